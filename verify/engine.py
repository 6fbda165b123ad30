"""Verify nodes against the standard: every applicable control on every selected host, in parallel.

What each node should be comes from the inventory (its roles, the DC hosts it depends on) and from
the tables the deploys read too (``inventory/services.py``: the ports the firewall opens, nginx's TLS
port, the load balancer's virtual IP; ``inventory/applications.py``), so verification and the
firewall agree on what may listen and the probes go where the deploys put the services. What each
node is comes from testinfra over SSH.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from egov.connection import connection_for, require_lab_up
from egov.errors import InputError
from egov.parallel import run_parallel
from egov.results import Result, RunResult
from inventory.applications import APPS
from inventory.services import (
    AUTHENTICATED_PORTS,
    app_config_path,
    closed_ports,
    directory_base,
    listen_ports,
    mail_name,
    plain_syslog_sources,
    vip,
)
from verify.catalogue import DEFAULT_CATALOGUE, Catalogue, Control, load_catalogue
from verify.checks import CHECKS, Node, Outcome
from verify.prefetch import Prefetched, Recorder, prefetch

if TYPE_CHECKING:
    import testinfra.host

    from inventory import Inventory
    from inventory.model import Host

SSH_PORT = ("tcp", 22)  # base opens it (from the management networks) on every host
Connect = Callable[["Host"], "testinfra.host.Host"]


def _ports(host: Host) -> set[tuple[str, int]]:
    """What may listen: what the firewall opens (the core applications' ports among them), and what
    a service binds that the firewall keeps closed."""
    ports = {SSH_PORT}
    for text in [*listen_ports(host.roles, host.vars, host.name), *closed_ports(host.roles)]:
        proto, _, number = text.partition("/")
        if number.isdigit():  # "vrrp" is an IP protocol, not a listening port
            ports.add((proto, int(number)))
    return ports


def _addresses(hosts: list[Host]) -> list[str]:
    out: list[str] = []
    for h in hosts:
        out += [str(h.mgmt_ip)] + ([str(h.server_ip)] if h.server_ip else []) + [h.name]
    return out


def node_for(inv: Inventory, host: Host, catalogue: Catalogue) -> Node:
    """What the inventory says ``host`` should be."""
    roles = list(host.roles)
    zone = inv.province.domain  # the internal zone deploys/dns.py serves
    dns_hosts = inv.hosts_with_role("dns")
    entry = vip(inv)
    return Node(
        name=host.name,
        roles=roles,
        ports=_ports(host),
        services=catalogue.services_for(roles),
        apps={role: APPS[role].port for role in roles if role in APPS},
        app_configs={role: app_config_path(role) for role in roles if role in APPS},
        proxied={role: app.path for role, app in APPS.items() if inv.hosts_with_role(role)},
        ntp_servers=_addresses(inv.hosts_with_role("ntp")),
        log_targets=_addresses(inv.hosts_with_role("log")),
        plain_syslog_sources=plain_syslog_sources(inv),
        # the web role's certificate always names the province domain; its CA is in the trust store
        tls_name=inv.province.domain,
        entry=(entry, 443) if entry else None,
        resolver_name=f"{dns_hosts[0].name}.{zone}" if dns_hosts else None,
        # as deploys/local_node.py forwards: each DC resolver's management address, its name in the zone
        dns_tls=[(str(h.mgmt_ip), f"{h.name}.{zone}") for h in dns_hosts],
        databases=[app.name for role, app in APPS.items() if inv.hosts_with_role(role)],
        # the addresses the web role's nginx proxies to (deploys.apps.upstreams: management IPs)
        backends={role: [f"{h.mgmt_ip}:{app.port}" for h in inv.hosts_with_role(role)]
                  for role, app in APPS.items() if inv.hosts_with_role(role)},
        mail_name=mail_name(inv),
        hosts=list(inv.hosts),
        authenticated_ports=sorted({int(host.vars[key]) for key in AUTHENTICATED_PORTS}),
        portals=[(agency.portal, agency.name) for agency in inv.agencies.values()],
        directories=[str(h.mgmt_ip) for h in inv.hosts_with_role("directory")],
        directory_base=directory_base(inv),
        # as deploys/base.py points apt: the first mirror host that is not this one, by management address
        package_mirror=next((str(h.mgmt_ip) for h in inv.hosts_with_role("mirror") if h.name != host.name), None),
    )


def _ssh_connect(inv: Inventory) -> Connect:
    from verify.connect import ssh_host

    require_lab_up(inv)
    conn = connection_for(inv.path, inv.environment)
    for path in (conn.key_path, conn.known_hosts):
        if not Path(path).exists():
            raise InputError(f"{path}: missing (SSH key and known_hosts for {inv.environment}; "
                             f"for the lab run: egov lab up)")
    return lambda host: ssh_host(str(host.mgmt_ip), conn)


# Controls of one node run together, each on its own channel of the node's one SSH connection. sshd
# caps sessions per connection (MaxSessions: 10 by default, 4 as the base role hardens it), and one
# more may still be closing: stay below the hardened cap.
CHECKS_AT_ONCE = 3


def _control(testinfra_host: Any, node: Node, control: Control, reach: str | None) -> dict[str, Any]:
    t0 = time.monotonic()
    if reach:
        outcome = Outcome(False, reach)
    else:
        try:
            outcome = CHECKS[control.check](testinfra_host, node, **control.params)
        except Exception as exc:  # noqa: BLE001 - a broken check fails its control, not the run
            outcome = Outcome(False, f"check {control.check} raised {type(exc).__name__}: {exc}")
    return {"id": control.id, "title": control.title, "group": control.group, "severity": control.severity,
            "passed": outcome.passed, "detail": outcome.detail, "seconds": round(time.monotonic() - t0, 3)}


def verify_node(testinfra_host: Any, node: Node, catalogue: Catalogue) -> Result:
    """Run every control that applies to ``node``; the node fails when a required control fails.

    The first command opens the SSH connection (and tells whether the node is reachable); then
    every command the checks will run is read in one round trip (``verify.prefetch``), and the
    controls run concurrently over the answers and, for what was not foreseen, the connection.
    """
    started = time.monotonic()
    controls = [c for c in catalogue.controls if c.applies_to(node.roles)]
    reach = None
    try:
        testinfra_host.run("true")
    except Exception as exc:  # noqa: BLE001 - any transport failure means the node is unreachable
        reach = f"unreachable: {type(exc).__name__}: {exc}"
    target = testinfra_host
    if not reach:
        recorder = Recorder()
        for control in controls:
            _control(recorder, node, control, None)
        target = Prefetched(testinfra_host, prefetch(testinfra_host, recorder.commands))
    with ThreadPoolExecutor(max_workers=max(1, min(CHECKS_AT_ONCE, len(controls)))) as pool:
        outcomes = list(pool.map(lambda c: _control(target, node, c, reach), controls))
    close = getattr(getattr(testinfra_host, "backend", None), "close", None)
    if callable(close):
        close()
    failed_required = [o["id"] for o in outcomes if not o["passed"] and o["severity"] == "required"]
    error = reach or (f"required controls failed: {', '.join(failed_required)}" if failed_required else "")
    return Result(target=node.name, failed=bool(failed_required), error=error,
                  data={"roles": node.roles, "controls": outcomes,
                        "seconds": round(time.monotonic() - started, 3)})


def run(
    inv: Inventory,
    limits: Iterable[str] = (),
    junit: str | Path | None = None,
    report: str | Path | None = None,
    workers: int = 20,
    catalogue: Catalogue | str | Path | None = None,
    connect: Connect | None = None,
    on_done: Callable[[Result], None] | None = None,
) -> RunResult:
    """Verify the selected hosts of ``inv`` against the standard.

    + limits: ``--limit`` values (site, level, role, host); none means every host
    + junit, report: write JUnit XML (one testcase per node and control) and a standalone HTML report
    + workers: nodes verified at once (one SSH connection each)
    + catalogue: a loaded catalogue or its path (default ``verify/controls.yml``)
    + connect: host -> testinfra host (default: SSH, strict known_hosts from ``egov.connection``)
    + on_done: called as each node finishes

    Returns one Result per host: ``failed`` when a required control failed or the node was not
    reached; ``data["controls"]`` lists every control's outcome.
    """
    if not isinstance(catalogue, Catalogue):
        catalogue = load_catalogue(catalogue or DEFAULT_CATALOGUE)
    hosts, _routers = inv.select(list(limits))
    if not hosts:
        raise InputError(f"--limit {' '.join(limits)}: no host of {inv.path} matches")
    connect = connect or _ssh_connect(inv)
    by_name = {h.name: h for h in hosts}
    nodes = {h.name: node_for(inv, h, catalogue) for h in hosts}
    result = run_parallel(lambda name: verify_node(connect(by_name[name]), nodes[name], catalogue),
                          list(by_name), workers=workers, on_done=on_done)
    if junit or report:
        from verify import report as reports

        if junit:
            reports.write_junit(result, junit)
        if report:
            reports.write_html(result, catalogue, report, title=f"{inv.province.name}: {inv.path}")
    return result
