"""The checks behind the controls: each reads a node's state through a testinfra host.

A check is ``check(host, node, **params) -> Outcome``: ``host`` is a ``testinfra.host.Host`` (only
``host.run`` is used, so a check is tested by feeding it command output), ``node`` is what the
inventory says the node should be (roles, ports, services, the DC hosts it depends on), and
``params`` come from the control's ``params`` in controls.yml. Checks are registered in ``CHECKS``
by name; the catalogue refers to them by that name.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from verify.probe import SCRIPT

# Units a role needs at boot: "static" and "indirect" units are started by another unit or socket.
ENABLED_STATES = {"enabled", "enabled-runtime", "alias", "static", "indirect", "generated"}
ROOT_LOGIN_OK = {"prohibit-password", "without-password", "no"}


class RunsCommands(Protocol):
    def run(self, command: str, *args: str) -> Any: ...


@dataclass(frozen=True)
class Outcome:
    """A check's verdict on one node, with a line a person can act on."""

    passed: bool
    detail: str


@dataclass
class Node:
    """What the inventory expects of one node.

    + name, roles: from the inventory
    + ports: ``{("tcp", 22), ...}`` that may listen on non-loopback addresses
    + services: systemd units that must be running and enabled
    + apps: core applications on this node, role name -> port
    + app_configs: role name -> path of the app's config file (holds its DB credentials)
    + proxied: every core application of the platform, role name -> path prefix on the proxy
    + ntp_servers, log_targets: addresses (and names) of the DC time servers and log hosts
    + tls_name: the name the proxy's certificate must carry (None: chain and expiry only)
    + proxy_port: where the web role's nginx terminates TLS
    + entry: (address, port) of the platform's entry point (the load balancer's VIP)
    + resolver_name: a DC name the site's resolver must answer for
    + databases: the application databases the backup host must hold recent dumps of
    + backends: every application's backends as the proxy reaches them, role -> ["addr:port"]
    + mail_name: the name the mail host's certificate must carry
    + hosts: every host of the inventory (the backup host must hold an archive of each one's files)
    """

    name: str
    roles: list[str]
    ports: set[tuple[str, int]] = field(default_factory=set)
    services: list[str] = field(default_factory=list)
    apps: dict[str, int] = field(default_factory=dict)
    app_configs: dict[str, str] = field(default_factory=dict)
    proxied: dict[str, str] = field(default_factory=dict)
    ntp_servers: list[str] = field(default_factory=list)
    log_targets: list[str] = field(default_factory=list)
    tls_name: str | None = None
    proxy_port: int = 443
    entry: tuple[str, int] | None = None
    resolver_name: str | None = None
    databases: list[str] = field(default_factory=list)
    backends: dict[str, list[str]] = field(default_factory=dict)
    mail_name: str | None = None
    hosts: list[str] = field(default_factory=list)


Check = Callable[..., Outcome]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    """Register a check under the name controls.yml uses."""

    def register(func: Check) -> Check:
        if name in CHECKS:
            raise ValueError(f"check '{name}' registered twice")
        CHECKS[name] = func
        return func

    return register


def _out(result: Any) -> str:
    return (result.stdout or "").strip()


def _probe_many(host: RunsCommands, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the node-side probe for every spec in one SSH command; one answer per spec."""
    result = host.run("python3 -c %s %s", SCRIPT, json.dumps(specs))
    try:
        answers = json.loads(_out(result).splitlines()[-1])
        if isinstance(answers, list) and len(answers) == len(specs):
            return answers
    except (ValueError, IndexError):
        pass
    return [{"error": f"probe failed (rc {result.rc}): {(result.stderr or '').strip()[:200]}"}] * len(specs)


def _probe(host: RunsCommands, spec: dict[str, Any]) -> dict[str, Any]:
    return _probe_many(host, [spec])[0]


def _health(answer: dict[str, Any]) -> str | None:
    """None when a /healthz answer is healthy, else why not."""
    if "error" in answer:
        return str(answer["error"])
    if answer.get("status") != 200:
        return f"HTTP {answer.get('status')}: {str(answer.get('body', ''))[:120]}"
    try:
        status = json.loads(answer.get("body", "")).get("status")
    except (ValueError, AttributeError):
        return "answer is not JSON"
    return None if status == "ok" else f"status {status!r}"


# --- network security -------------------------------------------------------------------------

@check("firewall_default_drop")
def firewall_default_drop(host: RunsCommands, node: Node) -> Outcome:
    """An nftables base chain on the input hook with policy drop (one drop chain is enough:
    a packet must pass every base chain of its hook)."""
    result = host.run("nft -j list ruleset")
    if result.rc != 0:
        return Outcome(False, f"nft list ruleset failed: {(result.stderr or '').strip()[:200]}")
    try:
        items = json.loads(_out(result)).get("nftables", [])
    except ValueError:
        return Outcome(False, "nft printed no JSON ruleset")
    chains = [i["chain"] for i in items if "chain" in i]
    inputs = [c for c in chains if c.get("hook") == "input"]
    dropping = [f"{c.get('family')} {c.get('table')} {c.get('name')}" for c in inputs if c.get("policy") == "drop"]
    if dropping:
        return Outcome(True, f"input policy drop in {', '.join(dropping)}")
    if not inputs:
        return Outcome(False, "no nftables input chain: inbound traffic is not filtered")
    return Outcome(False, "every input chain has policy accept")


def parse_listeners(ss_output: str) -> list[tuple[str, str, int, str]]:
    """``ss -Htlnup`` lines as (proto, address, port, process)."""
    listeners = []
    for line in ss_output.splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[0] not in ("tcp", "udp"):
            continue
        address, _, port = parts[4].rpartition(":")
        address = address.strip("[]").split("%")[0]
        process = re.search(r'\(\("([^"]+)"', line)
        if port.isdigit():
            listeners.append((parts[0], address, int(port), process.group(1) if process else "?"))
    return listeners


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # "*" or "0.0.0.0": every address


@check("expected_ports_only")
def expected_ports_only(host: RunsCommands, node: Node) -> Outcome:
    """Listening TCP sockets and bound UDP sockets on non-loopback addresses, against the roles' ports.

    A UDP socket bound to a port in the kernel's ephemeral range is a client's (squid's or a
    resolver's outgoing queries), not a service: ``ss -lu`` cannot tell them apart otherwise.
    """
    result = host.run("ss -Htlnup")
    if result.rc != 0:
        return Outcome(False, f"ss failed: {(result.stderr or '').strip()[:200]}")
    low, high = (int(x) for x in (_out(host.run("cat /proc/sys/net/ipv4/ip_local_port_range")).split()
                                  or ["32768", "60999"]))
    exposed = {(proto, port, proc) for proto, addr, port, proc in parse_listeners(_out(result))
               if not _is_loopback(addr) and not (proto == "udp" and low <= port <= high)}
    unexpected = sorted(f"{proto}/{port} ({proc})" for proto, port, proc in exposed if (proto, port) not in node.ports)
    if unexpected:
        return Outcome(False, f"unexpected listeners: {', '.join(unexpected)}")
    return Outcome(True, "listening: " + (", ".join(sorted({f"{p}/{n}" for p, n, _ in exposed})) or "nothing"))


@check("resolver_answers")
def resolver_answers(host: RunsCommands, node: Node) -> Outcome:
    if not node.resolver_name:
        return Outcome(False, "the inventory names no internal DNS zone to ask the resolver about")
    answer = _probe(host, {"kind": "dns", "server": "127.0.0.1", "name": node.resolver_name})
    if "error" in answer:
        return Outcome(False, f"no answer for {node.resolver_name}: {answer['error']}")
    if answer.get("rcode") != 0 or not answer.get("answers") or not answer.get("id_ok"):
        return Outcome(False, f"{node.resolver_name}: rcode {answer.get('rcode')}, {answer.get('answers')} answers")
    return Outcome(True, f"{node.resolver_name} resolved by the local resolver")


# --- server security --------------------------------------------------------------------------

@check("ssh_hardened")
def ssh_hardened(host: RunsCommands, node: Node) -> Outcome:
    result = host.run("sshd -T")
    if result.rc != 0:
        return Outcome(False, f"sshd -T failed: {(result.stderr or '').strip()[:200]}")
    conf = dict(line.split(None, 1) for line in _out(result).splitlines() if " " in line)
    wrong = []
    for key in ("passwordauthentication", "kbdinteractiveauthentication", "permitemptypasswords"):
        if conf.get(key) != "no":
            wrong.append(f"{key} {conf.get(key)}")
    if conf.get("permitrootlogin") not in ROOT_LOGIN_OK:
        wrong.append(f"permitrootlogin {conf.get('permitrootlogin')}")
    if conf.get("pubkeyauthentication") != "yes":
        wrong.append(f"pubkeyauthentication {conf.get('pubkeyauthentication')}")
    if wrong:
        return Outcome(False, "sshd: " + ", ".join(wrong))
    return Outcome(True, f"keys only; permitrootlogin {conf['permitrootlogin']}")


def parse_unit_states(text: str) -> dict[str, dict[str, str]]:
    """``systemctl show -p Id,LoadState,ActiveState,UnitFileState`` blocks, by unit Id."""
    units: dict[str, dict[str, str]] = {}
    for block in text.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("Id"):
            units[props["Id"]] = props
    return units


@check("services_running")
def services_running(host: RunsCommands, node: Node) -> Outcome:
    """Every unit active and enabled at boot. ``systemctl show`` answers for every unit asked, even
    a missing one (``LoadState=not-found``), where ``is-enabled`` would skip a line."""
    if not node.services:
        return Outcome(True, "no services expected")
    units = [f"{s}.service" for s in node.services]
    states = parse_unit_states(_out(host.run(
        "systemctl show -p Id,LoadState,ActiveState,UnitFileState " + " ".join(["%s"] * len(units)), *units)))
    problems = []
    for service, unit in zip(node.services, units):
        props = states.get(unit, {})
        if props.get("LoadState") != "loaded":
            problems.append(f"{service} is not installed")
            continue
        if props.get("ActiveState") != "active":
            problems.append(f"{service} is {props.get('ActiveState', 'unknown')}")
        if props.get("UnitFileState") not in ENABLED_STATES:
            problems.append(f"{service} is {props.get('UnitFileState') or 'not enabled'} at boot")
    if problems:
        return Outcome(False, "; ".join(problems))
    return Outcome(True, f"running and enabled: {', '.join(node.services)}")


@check("time_synchronised")
def time_synchronised(host: RunsCommands, node: Node) -> Outcome:
    result = host.run("chronyc -n tracking")
    if result.rc != 0:
        return Outcome(False, f"chronyc tracking failed: {(result.stderr or _out(result))[:200].strip()}")
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in _out(result).splitlines())}
    leap = fields.get("Leap status", "?")
    reference = re.search(r"\(([^)]*)\)", fields.get("Reference ID", ""))
    source = reference.group(1) if reference else "?"
    if leap != "Normal":
        return Outcome(False, f"not synchronised (leap status {leap})")
    if "ntp" not in node.roles and node.ntp_servers and source not in node.ntp_servers:
        return Outcome(False, f"tracking {source}, not a DC time server ({', '.join(node.ntp_servers)})")
    return Outcome(True, f"tracking {source}, offset {fields.get('Last offset', '?')}")


def _config_lines(text: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


@check("log_forwarding")
def log_forwarding(host: RunsCommands, node: Node) -> Outcome:
    lines = _config_lines(_out(host.run("cat /etc/rsyslog.conf /etc/rsyslog.d/*.conf")))
    if "log" in node.roles:
        # The log host receives rather than forwards: it must load a network input.
        if any(re.search(r"im(udp|tcp)", line) for line in lines):
            return Outcome(True, "log host: network input (imudp/imtcp) configured")
        return Outcome(False, "log host: no imudp/imtcp input in the rsyslog configuration")
    if not node.log_targets:
        return Outcome(False, "the inventory has no log host")
    forwards = [line for line in lines if ("omfwd" in line or re.search(r"@@?\[?[\w.:-]+", line))
                and any(target in line for target in node.log_targets)]
    if not forwards:
        return Outcome(False, f"no rsyslog forwarding to {', '.join(node.log_targets)}")
    return Outcome(True, f"forwarding: {forwards[0][:120]}")


@check("unattended_upgrades")
def unattended_upgrades(host: RunsCommands, node: Node) -> Outcome:
    installed = _out(host.run("dpkg-query -W -f '${Status}' unattended-upgrades"))
    periodic = _out(host.run("apt-config dump APT::Periodic::Unattended-Upgrade"))
    if installed != "install ok installed":
        return Outcome(False, "unattended-upgrades is not installed")
    if '"1"' not in periodic:
        return Outcome(False, "APT::Periodic::Unattended-Upgrade is not \"1\"")
    return Outcome(True, "installed and enabled daily")


@check("journal_persistent")
def journal_persistent(host: RunsCommands, node: Node) -> Outcome:
    config = _out(host.run("systemd-analyze cat-config systemd/journald.conf"))
    storage = ([m.group(1).lower() for m in re.finditer(r"(?m)^\s*Storage\s*=\s*(\S+)", config)] or ["auto"])[-1]
    has_dir = host.run("test -d /var/log/journal").rc == 0
    if storage == "persistent" or (storage == "auto" and has_dir):
        return Outcome(True, f"Storage={storage}, /var/log/journal {'present' if has_dir else 'created at start'}")
    return Outcome(False, f"Storage={storage} and /var/log/journal {'present' if has_dir else 'missing'}")


@check("auditd_running")
def auditd_running(host: RunsCommands, node: Node) -> Outcome:
    state = _out(host.run("systemctl is-active auditd.service")) or "unknown"
    return Outcome(state == "active", f"auditd is {state}")


# --- application security ---------------------------------------------------------------------

def _health_report(host: RunsCommands, labels: list[str], specs: list[dict[str, Any]], where: str) -> Outcome:
    failures: list[str] = []
    good: list[str] = []
    for label, answer in zip(labels, _probe_many(host, specs)):
        problem = _health(answer)
        (failures if problem else good).append(f"{label} {problem}" if problem else label)
    if failures:
        return Outcome(False, f"{where}unhealthy: " + "; ".join(failures))
    return Outcome(True, f"{where}healthy: " + ", ".join(good))


@check("app_health_direct")
def app_health_direct(host: RunsCommands, node: Node) -> Outcome:
    if not node.apps:
        return Outcome(False, "no core application is placed on this node")
    apps = sorted(node.apps.items())
    return _health_report(host, [f"{app} :{port}" for app, port in apps],
                          [{"kind": "http", "port": port, "path": "/healthz"} for _app, port in apps], "")


def _https_spec(node: Node, via: str, path: str) -> dict[str, Any]:
    """A probe of ``path`` over TLS, on the node's own proxy (``web``) or the platform entry (``entry``)."""
    address, port = ("127.0.0.1", node.proxy_port) if via == "web" else (node.entry or ("127.0.0.1", 443))
    return {"kind": "http", "connect": address, "port": port, "path": path, "tls": True,
            "server_name": node.tls_name}


@check("app_health_proxy")
def app_health_proxy(host: RunsCommands, node: Node, via: str = "web") -> Outcome:
    """Every application's /healthz over TLS: through this node's nginx (``via: web``) or through
    the load balancer's virtual IP (``via: entry``), the path a citizen's request takes."""
    if not node.proxied:
        return Outcome(False, "the inventory places no core application behind the proxy")
    apps = sorted(node.proxied.items())
    specs = [_https_spec(node, via, prefix.rstrip("/") + "/healthz") for _app, prefix in apps]
    return _health_report(host, [f"{app} {spec['path']}" for (app, _p), spec in zip(apps, specs)], specs,
                          f"via {specs[0]['connect']}:{specs[0]['port']}: ")


@check("app_backends_reachable")
def app_backends_reachable(host: RunsCommands, node: Node) -> Outcome:
    """From the proxy, every backend of every application answers /healthz: a backend the proxy
    cannot reach (a firewall drop) costs a connect timeout on the requests sent to it first."""
    pairs = [(app, backend) for app, backends in sorted(node.backends.items()) for backend in backends]
    if not pairs:
        return Outcome(False, "the inventory places no core application behind the proxy")
    specs = []
    for _app, backend in pairs:
        address, _, port = backend.rpartition(":")
        specs.append({"kind": "http", "connect": address, "port": int(port), "path": "/healthz"})
    return _health_report(host, [f"{app} {backend}" for app, backend in pairs], specs, "backends ")


@check("tls_valid")
def tls_valid(host: RunsCommands, node: Node, min_days: int = 14) -> Outcome:
    answer = _probe(host, _https_spec(node, "web", "/healthz"))
    if "days_left" not in answer:
        return Outcome(False, f"TLS on :{node.proxy_port} does not verify: {answer.get('error', 'no certificate')}")
    if answer["days_left"] < min_days:
        return Outcome(False, f"certificate expires in {answer['days_left']} days (< {min_days})")
    name = node.tls_name or "(no name checked)"
    return Outcome(True, f"{name}: chain verified, {answer['days_left']} days left")


@check("mail_tls_only")
def mail_tls_only(host: RunsCommands, node: Node, min_days: int = 14) -> Outcome:
    """SMTP (25) offers STARTTLS; submission (587) offers it and no authentication before it,
    and authentication after it: a password never crosses the network in clear."""
    if not node.mail_name:
        return Outcome(False, "the inventory gives the mail host no name (province domain)")
    smtp, submission = _probe_many(host, [{"kind": "smtp", "port": port, "server_name": node.mail_name}
                                          for port in (25, 587)])
    problems = [f":{port} {answer['error']}" for port, answer in ((25, smtp), (587, submission)) if "error" in answer]
    if problems:
        return Outcome(False, "; ".join(problems))
    if "STARTTLS" not in smtp.get("ehlo", []):
        problems.append(":25 offers no STARTTLS")
    if "STARTTLS" not in submission.get("ehlo", []):
        problems.append(":587 offers no STARTTLS")
    if any(k.startswith("AUTH") for k in submission.get("ehlo", [])):
        problems.append(":587 offers AUTH before TLS")
    if not any(k.startswith("AUTH") for k in submission.get("tls_ehlo", [])):
        problems.append(":587 offers no AUTH after STARTTLS")
    days = min(a.get("days_left", 0) for a in (smtp, submission))
    if days < min_days:
        problems.append(f"certificate expires in {days} days (< {min_days})")
    if problems:
        return Outcome(False, "; ".join(problems))
    return Outcome(True, f"{node.mail_name}: STARTTLS on :25 and :587, AUTH only after it; {days} days left")


# --- data security ----------------------------------------------------------------------------

@check("app_config_private")
def app_config_private(host: RunsCommands, node: Node) -> Outcome:
    if not node.app_configs:
        return Outcome(False, "no core application is placed on this node")
    paths = [path for _app, path in sorted(node.app_configs.items())]
    # one stat for every file: a missing one is simply absent from the answer
    result = host.run("stat -c '%%n %%a %%U' " + " ".join(["%s"] * len(paths)), *paths)
    found = {name: (mode, owner) for name, mode, owner in (line.split() for line in _out(result).splitlines())}
    problems: list[str] = []
    good: list[str] = []
    for path in paths:
        if path not in found:
            problems.append(f"{path} missing")
            continue
        mode, owner = found[path]
        if int(mode, 8) & 0o007:
            problems.append(f"{path} mode {mode} is readable by others")
        elif owner != "root":
            problems.append(f"{path} owned by {owner}, not root")
        else:
            good.append(f"{path} {mode}")
    if problems:
        return Outcome(False, "; ".join(problems))
    return Outcome(True, ", ".join(good))


@check("backup_recent")
def backup_recent(host: RunsCommands, node: Node, path: str = "/var/backups/egov", max_age_hours: float = 26,
                  of: str = "databases") -> Outcome:
    """Every application database (``of: databases``: ``<db>-<stamp>.dump``) or every host
    (``of: hosts``: ``<host>-<stamp>.tar.gz``) has a non-empty backup under ``path`` younger than
    ``max_age_hours``; half-written ``.part`` files do not count."""
    kinds = {"databases": (node.databases, ".dump", "dumps"), "hosts": (node.hosts, ".tar.gz", "file archives")}
    if of not in kinds:
        return Outcome(False, f"params: of: {of!r} is not one of {', '.join(kinds)}")
    names, suffix, what = kinds[of]
    if not names:
        return Outcome(False, f"the inventory gives no {of} to back up")
    result = host.run("find %s -type f -name %s -size +0 -printf '%%T@ %%f\\n'", path, f"*{suffix}")
    now = float(_out(host.run("date +%s")) or time.time())
    newest: dict[str, float] = {}
    for line in _out(result).splitlines():
        stamp, _, name = line.partition(" ")
        owner = name.removesuffix(suffix).rsplit("-", 1)[0]
        newest[owner] = max(newest.get(owner, 0.0), float(stamp))
    problems: list[str] = []
    good: list[str] = []
    for name in names:
        if name not in newest:
            problems.append(f"{name}: none under {path}")
            continue
        age = (now - newest[name]) / 3600
        (problems if age > max_age_hours else good).append(f"{name} {age:.1f} h")
    if problems:
        return Outcome(False, f"older than {max_age_hours} h or missing: " + "; ".join(problems))
    return Outcome(True, f"newest {what}: " + ", ".join(good))
