"""Server security checks (catalogue group ``server``): SSH, services, time, logs, updates, the journal, audit."""

from __future__ import annotations

import re
from ipaddress import IPv4Network

from verify.checks.base import Node, Outcome, RunsCommands, check, output

# Units a role needs at boot: "static" and "indirect" units are started by another unit or socket.
ENABLED_STATES = {"enabled", "enabled-runtime", "alias", "static", "indirect", "generated"}
ROOT_LOGIN_OK = {"prohibit-password", "without-password", "no"}


def _sshd_effective(host: RunsCommands) -> dict[str, str] | Outcome:
    """sshd's effective configuration (``sshd -T``: keyword -> value), or the failure to read it."""
    result = host.run("sshd -T")
    if result.rc != 0:
        return Outcome(False, f"sshd -T failed: {(result.stderr or '').strip()[:200]}")
    return dict(line.split(None, 1) for line in output(result).splitlines() if " " in line)


@check("ssh_hardened")
def ssh_hardened(host: RunsCommands, node: Node) -> Outcome:
    conf = _sshd_effective(host)
    if isinstance(conf, Outcome):
        return conf
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


# What the CIS Debian Linux 12 Benchmark v1.1.0 calls weak (5.1.6 ciphers, 5.1.12 key exchange,
# 5.1.15 MACs), and hmac-sha1 and umac-128 of its earlier editions: none may be offered.
WEAK_SSH = {
    "ciphers": {"3des-cbc", "aes128-cbc", "aes192-cbc", "aes256-cbc", "rijndael-cbc@lysator.liu.se"},
    "kexalgorithms": {"diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1",
                      "diffie-hellman-group-exchange-sha1"},
    "macs": {"hmac-md5", "hmac-md5-96", "hmac-ripemd160", "hmac-sha1", "hmac-sha1-96", "umac-64@openssh.com",
             "umac-128@openssh.com", "hmac-md5-etm@openssh.com", "hmac-md5-96-etm@openssh.com",
             "hmac-ripemd160-etm@openssh.com", "hmac-sha1-etm@openssh.com", "hmac-sha1-96-etm@openssh.com",
             "umac-64-etm@openssh.com", "umac-128-etm@openssh.com"},
}


@check("ssh_strong_crypto")
def ssh_strong_crypto(host: RunsCommands, node: Node) -> Outcome:
    """What sshd offers (``sshd -T``, the effective configuration) holds no weak algorithm."""
    conf = _sshd_effective(host)
    if isinstance(conf, Outcome):
        return conf
    weak = [f"{key} {name}" for key, names in WEAK_SSH.items() for name in conf.get(key, "").split(",")
            if name in names]
    missing = [key for key in WEAK_SSH if key not in conf]
    if weak or missing:
        return Outcome(False, "sshd offers weak algorithms: " + ", ".join(weak + [f"{k} unknown" for k in missing]))
    return Outcome(True, f"{len(conf['ciphers'].split(','))} ciphers, {len(conf['macs'].split(','))} MACs, "
                         f"{len(conf['kexalgorithms'].split(','))} key exchanges, none weak (CIS 5.1.6/12/15)")


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
    states = parse_unit_states(output(host.run(
        "systemctl show -p Id,LoadState,ActiveState,UnitFileState " + " ".join(["%s"] * len(units)), *units)))
    problems = []
    for service, unit in zip(node.services, units, strict=True):
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
        return Outcome(False, f"chronyc tracking failed: {(result.stderr or output(result))[:200].strip()}")
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in output(result).splitlines())}
    leap = fields.get("Leap status", "?")
    reference = re.search(r"\(([^)]*)\)", fields.get("Reference ID", ""))
    source = reference.group(1) if reference else "?"
    if leap != "Normal":
        # what each source says (reachability, stratum, last sample) is what on-call needs next
        sources = [line.split()[:7] for line in output(host.run("chronyc -n sources")).splitlines()
                   if re.match(r"[\^=#][*+\-?x~] ", line)]  # mode and state, then the source
        seen = "; ".join(" ".join(fields) for fields in sources) or "none"
        return Outcome(False, f"not synchronised (leap status {leap}); sources: {seen}")
    if "ntp" not in node.roles and node.ntp_servers and source not in node.ntp_servers:
        return Outcome(False, f"tracking {source}, not a DC time server ({', '.join(node.ntp_servers)})")
    return Outcome(True, f"tracking {source}, offset {fields.get('Last offset', '?')}")


# chronyc's authdata columns (chronyc(1)): Name/IP address, Mode, KeyID, Type, KLen, Last, Atmp, NAK, Cook, CLen
AUTHDATA_COLUMNS = 10


def authdata_sources(text: str) -> dict[str, list[str]]:
    """``chronyc -n authdata``'s rows by source address: that row's columns (``AUTHDATA_COLUMNS``)."""
    return {fields[0]: fields for line in text.splitlines()
            if len(fields := line.split()) == AUTHDATA_COLUMNS and fields[0][0].isdigit()}


@check("time_over_nts")
def time_over_nts(host: RunsCommands, node: Node) -> Outcome:
    if "ntp" in node.roles:
        # a time server: it serves key establishment when its config names a certificate and key
        lines = _config_lines(output(host.run("cat /etc/chrony/chrony.conf /etc/chrony/conf.d/*.conf")))
        keys = {line.split()[0] for line in lines}
        missing = [key for key in ("ntsservercert", "ntsserverkey") if key not in keys]
        if missing:
            return Outcome(False, f"time server without {' and '.join(missing)}: clients cannot use NTS")
        return Outcome(True, "time server: NTS key establishment with the host certificate")
    result = host.run("chronyc -n authdata")
    if result.rc != 0:
        return Outcome(False, f"chronyc authdata failed: {(result.stderr or output(result))[:200].strip()}")
    rows = authdata_sources(output(result))
    if not rows:
        return Outcome(False, "chronyc authdata lists no source")
    wrong = []
    for source, fields in sorted(rows.items()):
        mode, cookies = fields[1], fields[8]
        if mode != "NTS":
            wrong.append(f"{source} in mode {mode}")
        elif cookies == "0":
            # NTS without cookies: key establishment failed (certificate, name, port)
            wrong.append(f"{source}: NTS without keys (no cookie; NAKs {fields[7]})")
        elif node.ntp_servers and source not in node.ntp_servers:
            wrong.append(f"{source}: not a DC time server")
    if wrong:
        return Outcome(False, "time unauthenticated: " + "; ".join(wrong))
    return Outcome(True, f"NTS from {', '.join(sorted(rows))}")


def _config_lines(text: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


@check("log_forwarding")
def log_forwarding(host: RunsCommands, node: Node) -> Outcome:
    lines = _config_lines(output(host.run("cat /etc/rsyslog.conf /etc/rsyslog.d/*.conf")))
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


# rsyslog's own words for a TLS session whose peer is verified (gtls and ossl drivers alike)
PEER_VERIFIED = {"x509/name", "x509/certvalid", "x509/fingerprint"}
_OBJECT = re.compile(r"\b(action|module|input)\s*\(([^)]*)\)", re.I | re.S)
_PARAM = re.compile(r'([\w.]+)\s*=\s*"([^"]*)"')


def _tls_problem(kind: str, params: dict[str, str]) -> str | None:
    """What is wrong with one omfwd action or imtcp module/input: None when it is TLS with a verified peer."""
    mode = params.get("streamdrivermode") or params.get("streamdriver.mode")
    auth = (params.get("streamdriverauthmode") or params.get("streamdriver.authmode") or "").lower()
    if mode != "1":
        return f"{kind} without TLS"
    if auth not in PEER_VERIFIED:
        return f"{kind} with TLS but peer authentication {auth or 'anon'}"
    return None


_ALLOWED_UDP = re.compile(r"^\s*\$AllowedSender\s+UDP\s*,\s*(.+)$", re.M | re.I)
_CHAIN = re.compile(r"chain\s+\S+\s*\{(.*?)\n\s*\}", re.S)
_SADDR = re.compile(r"\bip saddr (\{[^}]*\}|\S+)")
_UDP_DPORT = re.compile(r"\budp dport (\{[^}]*\}|\S+)")


def _networks(text: str) -> list[IPv4Network] | None:
    """``10.0.0.0/24, 10.1.0.1`` or ``{ ... }`` as networks; None when one is not an IPv4 network (a name, a set)."""
    try:
        return [IPv4Network(part) for part in re.split(r"[\s,{}]+", text) if part]
    except ValueError:
        return None


def _within(text: str, pool: list[IPv4Network]) -> bool:
    nets = _networks(text) or []
    return bool(nets) and all(any(net.subnet_of(p) for p in pool) for net in nets)


def _firewall_opens_beyond(ruleset: str, port: str, pool: list[IPv4Network]) -> str | None:
    """What lets a sender outside ``pool`` reach ``udp/port`` in ``nft list ruleset``, or None."""
    inputs = [body for body in _CHAIN.findall(ruleset) if re.search(r"\bhook input\b", body)]
    if not inputs:
        return "no nftables input chain"
    for body in inputs:
        if not re.search(r"\bpolicy drop\b", body):
            return "the nftables input chain does not drop by default"
        for rule in (line.strip() for line in body.splitlines()):
            if not rule.endswith("accept") or rule.startswith(("ct state", "iif", "meta l4proto {")):
                continue
            dport = _UDP_DPORT.search(rule)
            names_port = dport is not None and port in re.split(r"[\s,{}]+", dport.group(1))
            wide = not dport and not re.search(r"\b(tcp|dport|protocol|l4proto|icmp)\b", rule)
            if not (names_port or wide):
                continue
            saddr = _SADDR.search(rule)
            if not saddr or not _within(saddr.group(1), pool):
                return f"nftables '{rule}' opens udp/{port} beyond the routers that send plain syslog"
    return None


def _router_input_problem(host: RunsCommands, node: Node, text: str, ports: list[str]) -> str | None:
    """A log host's plain UDP input is the routers' not enrolled for TLS yet: accepted only when both
    rsyslog (``$AllowedSender UDP``) and the firewall take it from their loopbacks alone."""
    pool = [IPv4Network(net) for net in node.plain_syslog_sources]
    if not pool:
        return "imudp: a plain network input, and no router of the inventory sends plain syslog (all use TLS)"
    allowed = _ALLOWED_UDP.findall(text)
    if not allowed or not all(_within(line, pool) for line in allowed):
        return ("imudp: $AllowedSender UDP does not restrict it to the plain-syslog routers "
                + ", ".join(node.plain_syslog_sources))
    ruleset = host.run("nft list ruleset")
    if ruleset.rc != 0:
        return "imudp: cannot read the firewall (nft list ruleset) to see it restricted to the routers"
    for port in ports or ["514"]:
        problem = _firewall_opens_beyond(output(ruleset), port, pool)
        if problem:
            return f"imudp: {problem}"
    return None


@check("log_over_tls")
def log_over_tls(host: RunsCommands, node: Node) -> Outcome:
    """Syslog crosses the network only over TLS with the peer's certificate verified (RFC 5425):
    every forwarding action, and every network input, of the effective rsyslog configuration. The one
    exception is a log host's UDP input for the routers not enrolled for TLS, restricted to their
    loopbacks by rsyslog and by the firewall (``nft list ruleset``)."""
    text = "\n".join(line.split("#", 1)[0] for line in
                     output(host.run("cat /etc/rsyslog.conf /etc/rsyslog.d/*.conf")).splitlines())
    problems, forwards, inputs, router_ports = [], 0, 0, []
    router_input = False
    if re.search(r"^\s*[^\s#($]+\s+@", text, re.M):
        problems.append("legacy @/@@ forwarding without TLS")
    for kind, body in _OBJECT.findall(text):
        params = {k.lower(): v for k, v in _PARAM.findall(body)}
        what = params.get("type") or params.get("load") or ""
        if kind.lower() == "action" and what == "omfwd":
            forwards += 1
            problem = _tls_problem(f"forwarding to {params.get('target', '?')}", params)
        elif what == "imudp" and "log" in node.roles:
            router_input = True
            if kind.lower() == "input":
                router_ports.append(params.get("port", "514"))
            continue
        elif what in ("imudp", "imptcp", "imrelp"):
            problem = f"{what}: a plain network input"
        elif kind.lower() == "module" and what == "imtcp":
            inputs += 1
            problem = _tls_problem("imtcp", params)
        else:
            continue
        if problem:
            problems.append(problem)
    routers = _router_input_problem(host, node, text, router_ports) if router_input else None
    if routers:
        problems.append(routers)
    if problems:
        return Outcome(False, "; ".join(problems))
    if "log" in node.roles:
        plain = ", ".join(node.plain_syslog_sources)
        routers_note = f"; plain UDP from the routers not enrolled for TLS ({plain}) only" if router_input else ""
        return Outcome(inputs > 0, f"log host: syslog over TLS, senders verified{routers_note}" if inputs else
                       "log host: no TLS network input (imtcp)")
    if not forwards:
        return Outcome(False, "no forwarding at all")
    return Outcome(True, f"{forwards} forwarding action(s), all TLS with the log host verified")


@check("unattended_upgrades")
def unattended_upgrades(host: RunsCommands, node: Node) -> Outcome:
    installed = output(host.run("dpkg-query -W -f '${Status}' unattended-upgrades"))
    periodic = output(host.run("apt-config dump APT::Periodic::Unattended-Upgrade"))
    if installed != "install ok installed":
        return Outcome(False, "unattended-upgrades is not installed")
    if '"1"' not in periodic:
        return Outcome(False, "APT::Periodic::Unattended-Upgrade is not \"1\"")
    return Outcome(True, "installed and enabled daily")


@check("journal_persistent")
def journal_persistent(host: RunsCommands, node: Node) -> Outcome:
    config = output(host.run("systemd-analyze cat-config systemd/journald.conf"))
    storage = ([m.group(1).lower() for m in re.finditer(r"(?m)^\s*Storage\s*=\s*(\S+)", config)] or ["auto"])[-1]
    has_dir = host.run("test -d /var/log/journal").rc == 0
    if storage == "persistent" or (storage == "auto" and has_dir):
        return Outcome(True, f"Storage={storage}, /var/log/journal {'present' if has_dir else 'created at start'}")
    return Outcome(False, f"Storage={storage} and /var/log/journal {'present' if has_dir else 'missing'}")


@check("auditd_running")
def auditd_running(host: RunsCommands, node: Node) -> Outcome:
    state = output(host.run("systemctl is-active auditd.service")) or "unknown"
    return Outcome(state == "active", f"auditd is {state}")
