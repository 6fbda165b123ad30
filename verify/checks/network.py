"""Network security checks (catalogue group ``network``): the firewall, the listening ports, the
resolver, the monitoring endpoints' TLS and authentication."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from verify.checks.base import Node, Outcome, RunsCommands, check, output, probe, probe_many


@check("firewall_default_drop")
def firewall_default_drop(host: RunsCommands, node: Node) -> Outcome:
    """An nftables base chain on the input hook with policy drop (one drop chain is enough:
    a packet must pass every base chain of its hook)."""
    result = host.run("nft -j list ruleset")
    if result.rc != 0:
        return Outcome(False, f"nft list ruleset failed: {(result.stderr or '').strip()[:200]}")
    try:
        items = json.loads(output(result)).get("nftables", [])
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
    low, high = (int(x) for x in (output(host.run("cat /proc/sys/net/ipv4/ip_local_port_range")).split()
                                  or ["32768", "60999"]))
    exposed = {(proto, port, proc) for proto, addr, port, proc in parse_listeners(output(result))
               if not _is_loopback(addr) and not (proto == "udp" and low <= port <= high)}
    unexpected = sorted(f"{proto}/{port} ({proc})" for proto, port, proc in exposed if (proto, port) not in node.ports)
    if unexpected:
        return Outcome(False, f"unexpected listeners: {', '.join(unexpected)}")
    return Outcome(True, "listening: " + (", ".join(sorted({f"{p}/{n}" for p, n, _ in exposed})) or "nothing"))


@check("resolver_answers")
def resolver_answers(host: RunsCommands, node: Node) -> Outcome:
    if not node.resolver_name:
        return Outcome(False, "the inventory names no internal DNS zone to ask the resolver about")
    answer = probe(host, {"kind": "dns", "server": "127.0.0.1", "name": node.resolver_name})
    if "error" in answer:
        return Outcome(False, f"no answer for {node.resolver_name}: {answer['error']}")
    if answer.get("rcode") != 0 or not answer.get("answers") or not answer.get("id_ok"):
        return Outcome(False, f"{node.resolver_name}: rcode {answer.get('rcode')}, {answer.get('answers')} answers")
    return Outcome(True, f"{node.resolver_name} resolved by the local resolver")


# unbound's config on the node, as its include directory holds it: what the resolver forwards
UNBOUND_CONFIG = "cat /etc/unbound/unbound.conf.d/*.conf"


@check("resolver_forwards_over_tls")
def resolver_forwards_over_tls(host: RunsCommands, node: Node) -> Outcome:
    """Every forward zone of the node's resolver goes over TLS (``forward-tls-upstream: yes``, each
    address with the DNS-over-TLS port and a name to check), and each DC resolver answers a question
    over TLS from the node with a certificate the node's trust store accepts for its name."""
    if not node.dns_tls:
        return Outcome(False, "the inventory names no DC resolver to forward to")
    problems = _clear_forwards(output(host.run(UNBOUND_CONFIG)), node.dns_tls_port)
    name = node.resolver_name or node.dns_tls[0][1]
    specs = [{"kind": "dns", "tls": True, "server": address, "port": node.dns_tls_port, "server_name": server_name,
              "name": name} for address, server_name in node.dns_tls]
    for (address, server_name), answer in zip(node.dns_tls, probe_many(host, specs), strict=True):
        if "error" in answer or answer.get("rcode") != 0 or not answer.get("answers"):
            why = answer.get("error") or f"rcode {answer.get('rcode')}, {answer.get('answers')} answers"
            problems.append(f"{server_name} ({address}:{node.dns_tls_port}) over TLS: {why}")
    if problems:
        return Outcome(False, "; ".join(problems))
    return Outcome(True, f"forwards over TLS to {', '.join(n for _, n in node.dns_tls)}, each answering with its name")


def _clear_forwards(config: str, port: int) -> list[str]:
    """What in unbound's ``config`` would send a question in clear: a forward zone without
    ``forward-tls-upstream: yes``, or an address without ``@<port>#<name>``; none at all is one too.
    A clause is a key with no value (``forward-zone:``); a comment starts at a ``#`` after a space
    (``addr@853#name`` is one token, as unbound reads it)."""
    zones: list[tuple[list[str], list[str]]] = []  # (forward-tls-upstream values, addresses)
    clause = ""
    for raw in config.splitlines():
        key, _, value = re.sub(r"(^|\s)#.*", "", raw).strip().partition(":")
        value = value.strip().strip('"')
        if key and not value:
            clause = key
            if clause == "forward-zone":
                zones.append(([], []))
        elif clause == "forward-zone" and key in ("forward-tls-upstream", "forward-ssl-upstream"):
            zones[-1][0].append(value)
        elif clause == "forward-zone" and key == "forward-addr":
            zones[-1][1].append(value)
    if not zones:
        return ["no forward zone: the resolver asks no DC resolver"]
    problems = []
    for tls, addresses in zones:
        if tls[-1:] != ["yes"]:
            problems.append("a forward zone without forward-tls-upstream: yes")
        problems += [f"forward-addr {a} in clear" for a in addresses if not re.fullmatch(rf"\S+@{port}#\S+", a)]
    return problems


@check("monitoring_endpoints_authenticated")
def monitoring_endpoints_authenticated(host: RunsCommands, node: Node) -> Outcome:
    """Every Prometheus-stack port the node listens on refuses plain HTTP and answers HTTPS (its
    certificate chained to the node's trust store) with 401 to a request without credentials."""
    result = host.run("ss -Htlnup")  # NET-02's command: read once
    listening = {port for proto, addr, port, _proc in parse_listeners(output(result))
                 if proto == "tcp" and not _is_loopback(addr)}
    ports = [port for port in node.authenticated_ports if port in listening]
    if not ports:
        return Outcome(False, "no exporter listens (node_exporter is on every host)")
    specs = [{"kind": "http", "connect": "127.0.0.1", "port": port, "path": "/metrics", "tls": tls}
             for port in ports for tls in (False, True)]
    answers = probe_many(host, specs)
    problems = []
    for spec, answer in zip(specs, answers, strict=True):
        status = answer.get("status")
        if not spec["tls"] and status not in (None, 400):  # Go's servers answer 400 to HTTP on a TLS port
            problems.append(f"{spec['port']} answers plain HTTP ({status})")
        elif spec["tls"] and status != 401:
            problems.append(f"{spec['port']} over TLS without credentials: {status or answer.get('error')}")
    if problems:
        return Outcome(False, "; ".join(problems))
    return Outcome(True, f"HTTPS only, 401 without credentials: {', '.join(map(str, ports))}")


@check("packages_over_tls")
def packages_over_tls(host: RunsCommands, node: Node) -> Outcome:
    """No package crosses the network in clear. A mirror: apt-cacher-ng on the loopback only, nginx's
    TLS port in front of it. A host with a mirror to go through: apt's proxy is that mirror's TLS port
    (``apt-config dump``), which answers a TLS handshake checked against the node's trust store for
    the mirror's address, while apt-cacher-ng's own port does not answer at all; a local node's squid
    has the mirror as a TLS parent only."""
    if "mirror" not in node.roles and node.package_mirror is None:
        return Outcome(True, "no DC mirror in the inventory: apt fetches from its upstream")
    problems = _mirror_problems(host, node) if "mirror" in node.roles else []
    if node.package_mirror:
        problems += _client_problems(host, node, node.package_mirror, node.package_mirror_tls_port)
    if problems:
        return Outcome(False, "; ".join(problems))
    if node.package_mirror:
        return Outcome(True, f"packages over TLS from {node.package_mirror}:{node.package_mirror_tls_port} "
                             "(certificate checked), its plain port closed")
    return Outcome(True, f"apt-cacher-ng on the loopback, TLS in front of it on {node.package_mirror_tls_port}")


def _mirror_problems(host: RunsCommands, node: Node) -> list[str]:
    listeners = parse_listeners(output(host.run("ss -Htlnup")))  # NET-02's command: read once
    cache = [addr for proto, addr, port, _ in listeners if proto == "tcp" and port == node.package_cache_port]
    exposed = [addr for addr in cache if not _is_loopback(addr)]
    if exposed:
        return [f"apt-cacher-ng ({node.package_cache_port}) in clear on {', '.join(exposed)}"]
    if not cache:
        return [f"apt-cacher-ng does not listen on {node.package_cache_port}"]
    tls = probe(host, {"kind": "http", "port": node.package_mirror_tls_port, "path": "/healthz", "tls": True})
    if tls.get("status") != 200:
        return [f"no TLS in front of apt-cacher-ng on {node.package_mirror_tls_port}: {_answer(tls)}"]
    return []


def _client_problems(host: RunsCommands, node: Node, address: str, port: int) -> list[str]:
    want = f"https://{address}:{port}/"
    proxies = re.findall(r'^Acquire::https?::Proxy "([^"]*)";$', output(host.run("apt-config dump Acquire")),
                         re.MULTILINE)
    problems = [] if proxies == [want] else [f"apt's proxy is {', '.join(proxies) or 'unset'}, not {want}"]
    if "local_node" in node.roles:
        parents = re.findall(r"^cache_peer .*$", output(host.run("cat /etc/squid/squid.conf")), re.MULTILINE)
        if not parents:
            problems.append("squid has no parent")
        problems += [f"squid's parent in clear: {line}" for line in parents
                     if " tls " not in f" {line} " or "tls-cafile=" not in line]
    tls, plain = probe_many(host, [
        {"kind": "http", "connect": address, "port": port, "path": "/healthz", "tls": True, "server_name": address},
        {"kind": "http", "connect": address, "port": node.package_cache_port, "path": "/", "tls": False}])
    if tls.get("status") != 200:
        problems.append(f"the mirror's TLS port {address}:{port}: {_answer(tls)}")
    if "status" in plain:
        problems.append(f"the mirror answers plain HTTP on {address}:{node.package_cache_port} ({plain['status']})")
    return problems


def _answer(answer: dict[str, Any]) -> str:
    return str(answer.get("error") or f"answers {answer.get('status')}")
