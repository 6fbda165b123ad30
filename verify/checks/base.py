"""What every check shares: its arguments, its verdict, the registry, and reading a node.

A check is ``check(host, node, **params) -> Outcome``: ``host`` is a ``testinfra.host.Host`` (only
``host.run`` is used, so a check is tested by feeding it command output), ``node`` is what the
inventory says the node should be (roles, ports, services, the DC hosts it depends on), and
``params`` come from the control's ``params`` in controls.yml. Checks are registered in ``CHECKS``
by name; the catalogue refers to them by that name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from inventory.services import DIRECTORY_PORT, DNS_TLS_PORT, PACKAGE_CACHE_PORT, PACKAGE_MIRROR_TLS_PORT, WEB_PORT
from verify.probe import SCRIPT


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
    + plain_syslog_sources: the loopbacks (/32) of the routers not enrolled for TLS, the only
      senders a log host may take plain syslog from (none: it takes none)
    + tls_name: the name the proxy's certificate must carry (None: chain and expiry only)
    + proxy_port: where the web role's nginx terminates TLS
    + entry: (address, port) of the platform's entry point (the load balancer's VIP)
    + resolver_name: a DC name the site's resolver must answer for
    + dns_tls: every DC resolver the site's resolver forwards to, ``(address, name)``, and the port
      of DNS over TLS
    + databases: the application databases the backup host must hold recent dumps of
    + backends: every application's backends as the proxy reaches them, role -> ["addr:port"]
    + mail_name: the name the mail host's certificate must carry
    + hosts: every host of the inventory (the backup host must hold an archive of each one's files)
    + authenticated_ports: the Prometheus stack's ports (exporters, Prometheus, Alertmanager,
      blackbox), each HTTPS with basic auth only where something listens on it
    + portals: every agency's component portal, (host name, the agency's name its home page shows)
    + directories, directory_base, directory_port: every directory host's address, the base DN, the ldaps port
    + package_mirror: the DC mirror's address this host's apt goes through (None: the host is a mirror
      itself, or the inventory has none); package_mirror_tls_port, package_cache_port: the mirror's
      TLS port (nginx) and apt-cacher-ng's, which only its loopback may reach
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
    plain_syslog_sources: list[str] = field(default_factory=list)
    tls_name: str | None = None
    proxy_port: int = WEB_PORT
    entry: tuple[str, int] | None = None
    resolver_name: str | None = None
    dns_tls: list[tuple[str, str]] = field(default_factory=list)
    dns_tls_port: int = DNS_TLS_PORT
    databases: list[str] = field(default_factory=list)
    backends: dict[str, list[str]] = field(default_factory=dict)
    mail_name: str | None = None
    hosts: list[str] = field(default_factory=list)
    authenticated_ports: list[int] = field(default_factory=list)
    portals: list[tuple[str, str]] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)
    directory_base: str | None = None
    directory_port: int = DIRECTORY_PORT
    package_mirror: str | None = None
    package_mirror_tls_port: int = PACKAGE_MIRROR_TLS_PORT
    package_cache_port: int = PACKAGE_CACHE_PORT


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


def output(result: Any) -> str:
    return (result.stdout or "").strip()


def probe_many(host: RunsCommands, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the node-side probe for every spec in one SSH command; one answer per spec."""
    result = host.run("python3 -c %s %s", SCRIPT, json.dumps(specs))
    try:
        answers = json.loads(output(result).splitlines()[-1])
        if isinstance(answers, list) and len(answers) == len(specs):
            return answers
    except (ValueError, IndexError):
        pass
    return [{"error": f"probe failed (rc {result.rc}): {(result.stderr or '').strip()[:200]}"}] * len(specs)


def probe(host: RunsCommands, spec: dict[str, Any]) -> dict[str, Any]:
    return probe_many(host, [spec])[0]
