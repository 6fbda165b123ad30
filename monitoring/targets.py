"""What is monitored and by whom, derived from the inventory.

A monitoring server is a host with role ``monitoring``. Each site is watched by the servers of
the nearest site at or above it that has any (a site with none above it, such as a second
province-level site, by the first top-level servers); servers at a lower level are federated by
the servers of the next such site above them (aggregates only). Alerts from every server go to
the Alertmanagers of the top-level servers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from egov.errors import MonitoringConfigError
from monitoring.settings import Settings, settings_from

if TYPE_CHECKING:
    from inventory.model import Host, Inventory, Router, Site

ROLE = "monitoring"


@dataclass(frozen=True)
class Target:
    """One scrape or probe target.

    + job: the Prometheus job (node, postgres, egov, icmp_router, icmp_link, blackbox_<module>)
    + address: what Prometheus scrapes (host:port), or the probe target for blackbox jobs
    + labels: site, level, zone, role and a readable instance name
    """

    job: str
    address: str
    labels: dict[str, str]


@dataclass
class Server:
    """A Prometheus server (a host with role monitoring) and what it watches."""

    name: str
    site: str
    address: str
    settings: Settings
    top: bool
    sites: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    federates: list[Server] = field(default_factory=list)

    def url(self) -> str:
        """Its Prometheus (HTTPS with basic auth: ``monitoring/webconfig.py``)."""
        return f"https://{self.address}:{self.settings.prometheus_port}"

    def alertmanager_url(self) -> str:
        return f"https://{self.address}:{self.settings.alertmanager_port}"


@dataclass
class MonitoringPlan:
    """Every server, in inventory order, and the province-wide settings."""

    servers: dict[str, Server]
    settings: Settings  # province-wide (from the top-level site)

    @property
    def top(self) -> list[Server]:
        return [s for s in self.servers.values() if s.top]


def site_settings(inv: Inventory, node: Site | Host | Router) -> Settings:
    """Settings of a site (or, through the same layers, of a host or router)."""
    return settings_from(node.vars, inv.province.domain, lambda key: inv.origin(node, key))


host_settings = site_settings


def zone_of(inv: Inventory, site_name: str) -> str:
    """The site's ancestor at depth 1 (a district in a three-level province), or itself."""
    site = inv.sites[site_name]
    while site.depth > 1 and site.parent:
        site = inv.sites[site.parent]
    return str(site.name)


def site_labels(inv: Inventory, site_name: str) -> dict[str, str]:
    site = inv.sites[site_name]
    return {"site": site.name, "level": site.level, "zone": zone_of(inv, site_name)}


def build_plan(inv: Inventory) -> MonitoringPlan:
    """Assign sites to servers and list each server's targets."""
    monitors = inv.hosts_with_role(ROLE)
    if not monitors:
        raise MonitoringConfigError(f"{inv.path}: no host has role '{ROLE}': nothing would run Prometheus")
    by_site: dict[str, list[Any]] = {}
    for host in monitors:
        by_site.setdefault(host.site, []).append(host)

    def nearest(site_name: str | None) -> str | None:
        while site_name is not None:
            if site_name in by_site:
                return site_name
            site_name = inv.sites[site_name].parent
        return None

    top_sites = [s for s in by_site if nearest(inv.sites[s].parent) is None]
    # A site with no monitoring host above it (a second province-level site such as the PASC)
    # is watched by the first top-level monitoring site.
    owners = {name: nearest(name) or top_sites[0] for name in inv.sites}
    servers = {
        h.name: Server(name=h.name, site=h.site, address=str(h.mgmt_ip), settings=host_settings(inv, h),
                       top=h.site in top_sites)
        for h in monitors
    }
    for site_name in inv.sites:
        for server in by_site[owners[site_name]]:
            servers[server.name].sites.append(site_name)
    for site_name, hosts in by_site.items():
        parent_owner = nearest(inv.sites[site_name].parent)
        if parent_owner is not None:
            for upper in by_site[parent_owner]:
                servers[upper.name].federates.extend(servers[h.name] for h in hosts)
    root = next(iter(inv.sites.values()))
    plan = MonitoringPlan(servers=servers, settings=site_settings(inv, root))
    for server in servers.values():
        server.targets = _targets(inv, server)
    return plan


def _hosts(inv: Inventory, server: Server) -> Iterator[tuple[Host, Settings]]:
    """The hosts of the server's sites with their settings, in inventory order (stable output)."""
    sites = set(server.sites)
    for host in inv.hosts.values():
        if host.site in sites:
            yield host, host_settings(inv, host)


def _targets(inv: Inventory, server: Server) -> list[Target]:
    """Every target of the server's sites, in inventory order (stable output)."""
    out: list[Target] = []
    sites = set(server.sites)
    for host, hs in _hosts(inv, server):
        labels = {**site_labels(inv, host.site), "instance": host.name, "role": host.roles[0] if host.roles else "",
                  "roles": "," + ",".join(host.roles) + ","}
        out.append(Target("node", f"{host.mgmt_ip}:{hs.node_exporter_port}", labels))
        if "db" in host.roles:
            out.append(Target("postgres", f"{host.mgmt_ip}:{hs.postgres_exporter_port}", labels))
        if ROLE in host.roles or "backup" in host.roles:
            out.append(Target("egov", f"{host.mgmt_ip}:{hs.egov_exporter_port}", labels))
    for router in inv.routers.values():
        if router.site not in sites:
            continue
        labels = {**site_labels(inv, router.site), "instance": router.name, "role": "router",
                  "platform": router.platform}
        out.append(Target("icmp_router", str(router.loopback), labels))
    for link in inv.links:
        child = inv.routers[link.a.router]
        if child.site not in sites:
            continue
        # The child end of the /31: unreachable exactly when this link is down, even when the
        # router stays reachable over its other uplink.
        labels = {**site_labels(inv, child.site), "instance": link.name, "role": "wan_link",
                  "router": child.name, "peer": link.b.router}
        out.append(Target("icmp_link", str(link.a.ip.ip), labels))
    if server.top:
        root = next(iter(inv.sites.values()))
        dc = next((s for s in inv.sites.values() if s.kind == "datacenter"), root)
        for endpoint in server.settings.public_endpoints:
            labels = {**site_labels(inv, dc.name), "instance": endpoint["name"], "role": "public_endpoint",
                      "module": endpoint["module"]}
            out.append(Target("blackbox_" + endpoint["module"], endpoint["target"], labels))
        out.extend(portal_targets(inv))
    return out


PORTAL_MODULE = "http_portal"


def portal_targets(inv: Inventory) -> list[Target]:
    """Every agency's component portal, probed over HTTPS at the platform's entry point (the VIP)
    with its own name as Host and TLS server name (blackbox_exporter's ``hostname`` parameter, set
    per target through ``__param_hostname``), so a portal is probed even where the monitoring host
    does not resolve the platform's names. Labelled with the agency's site; a public endpoint, so
    PublicEndpointDown covers it (monitoring/rules.py)."""
    from inventory.services import vip

    address = vip(inv)
    if address is None:
        return []
    return [Target(f"blackbox_{PORTAL_MODULE}", f"https://{address}/",
                   {**site_labels(inv, agency.site), "instance": agency.portal, "role": "public_endpoint",
                    "module": PORTAL_MODULE, "agency": agency.code, "__param_hostname": agency.portal})
            for agency in inv.agencies.values()]


# What blackbox_exporter probes for a server besides pings and public endpoints (the multi-target
# pattern: Prometheus passes each target as ?target=), by job, with the blackbox module it uses.
BLACKBOX_PROBES = {"blackbox_app": "http_health", "blackbox_tls": "tls_certificate",
                 "blackbox_docexchange": "http_2xx"}


def probe_targets(inv: Inventory, server: Server) -> list[Target]:
    """Each core application's health URL on each host, every TLS port, and the document-exchange
    platform, of the server's sites. Each is labelled with its own host's site, level and zone
    (a district's certificate is the district's) and ``instance`` = that host, so the host's own
    alerts can inhibit it; ``app``/``url`` and ``endpoint`` name what is probed."""
    from inventory.applications import APPS

    out: list[Target] = []
    for host, hs in _hosts(inv, server):
        ip = str(host.server_ip or host.mgmt_ip)
        for role in host.roles:
            if role in APPS:
                url = f"http://{ip}:{APPS[role].port}{hs.app_health_path}"
                out.append(Target("blackbox_app", url, {**site_labels(inv, host.site), "instance": host.name,
                                                        "role": role, "app": APPS[role].name, "url": url}))
        ports = sorted({p for role in host.roles for p in hs.tls_ports.get(role, [])})
        for port in ports:
            out.append(Target("blackbox_tls", f"{ip}:{port}", {**site_labels(inv, host.site), "instance": host.name,
                                                               "role": "tls", "endpoint": f"{host.name}:{port}"}))
    if server.settings.docexchange_url:
        url = server.settings.docexchange_url
        out.append(Target("blackbox_docexchange", url, {**site_labels(inv, server.site), "instance": "docexchange",
                                                        "role": "docexchange", "url": url}))
    return out
