"""``local_node`` (alias ``district_node``): what a local unit's node gives its public administrative
service centre or reception point and the sites below it, from the data centre: a district's under
three levels, a commune-level unit's under two.

- a caching DNS resolver (unbound) for its site and the sites below it, forwarding every question
  to the DC's DNS servers over TLS (853, each server's certificate checked for its name against
  the platform CA: none of the unit's lookups crosses the WAN in clear), so the unit keeps
  resolving what it has already seen while its WAN link flaps, and the DC's internal zone (the
  province domain, as ``deploys/dns.py`` serves it) is answered without DNSSEC validation
  failing on it;
- a caching proxy (squid) whose only parent is the DC package mirror (apt-cacher-ng), reached over
  TLS (the mirror's certificate checked against the platform CA): the unit's machines fetch Debian
  packages once over the WAN, never in clear, and nothing goes straight out.

Both serve only the networks of its site and the sites below it (from the inventory), and both
configurations are checked by their own checker (``unbound-checkconf``, ``squid -k parse``) before
the service is restarted on them. The files on the host keep the names they had under the role's
old name (``egov-district.conf``), so a node deployed before the rename is updated in place.

Data (``host.data``): ``district_node__cache_mb``, ``district_node__max_object_mb``
(``inventory/defaults/services.yml``; the variables keep their namespace, so no inventory breaks).
"""

from __future__ import annotations

import functools
from ipaddress import IPv4Network

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, systemd

from deploys import data, host_name, peers, render
from deploys.base import host_tls
from deploys.dns import UNBOUND_RESTART
from deploys.ops.config import checked_file
from egov.errors import DeployError
from inventory.services import DISTRICT_PROXY_PORT, DNS_TLS_PORT, PACKAGE_MIRROR_TLS_PORT

# squid-openssl: the build that checks its TLS parent's certificate (it replaces package squid)
PACKAGES = ["unbound", "squid-openssl"]


@functools.lru_cache(maxsize=8)
def _served_networks(inventory_path: str, site_name: str) -> tuple[str, ...]:
    """Every LAN of the node's site and of the sites below it (its communes), from the inventory."""
    from inventory import load_inventory

    inv = load_inventory(inventory_path)
    below = {site_name}
    for site in inv.sites.values():  # file order puts parents before their children
        if site.parent in below:
            below.add(site.name)
    nets: list[IPv4Network] = [net for name in below for net in inv.sites[name].subnets.values()]
    return tuple(str(n) for n in sorted(set(nets)))


def _dc_hosts(role: str) -> list[tuple[str, str]]:
    """The DC's ``role`` hosts as ``(name, address)``; none is a DeployError."""
    hosts = list(peers(role))
    if not hosts:
        raise DeployError(f"{host_name()}: local_node needs the DC's {role} host, but the inventory has none")
    return hosts


@deploy("Local node")
def apply() -> None:
    """Resolver and package proxy for the unit (see the module docstring)."""
    networks = list(_served_networks(str(host.data.get("egov_inventory")), str(host.data.get("egov_site"))))
    domain = host.data.get("egov_domain")
    # the lists are fresh: base updated them in this step (and installed these in its transaction)
    apt.packages(name="local node: unbound and squid", packages=PACKAGES)
    checked_file(
        name="local node: caching resolver forwarding to the DC DNS",
        path="/etc/unbound/unbound.conf.d/egov-district.conf",
        content=render("local_node", "unbound.conf.j2", networks=networks, zone=domain,
                       # each DC resolver by its name in the domain, which its host certificate carries
                       forwarders=[(addr, f"{name}.{domain}") for name, addr in _dc_hosts("dns")],
                       tls_port=DNS_TLS_PORT, ca=host_tls()[2]),
        check="unbound-checkconf", reload=UNBOUND_RESTART,
    )
    systemd.service(name="local node: unbound running", service="unbound", running=True, enabled=True)
    mirror_name, mirror = _dc_hosts("mirror")[0]
    checked_file(
        name="local node: package proxy toward the DC mirror", path="/etc/squid/squid.conf",
        content=render("local_node", "squid.conf.j2", networks=networks, port=DISTRICT_PROXY_PORT,
                       # by its name in the domain, which its host certificate carries
                       mirror=mirror, mirror_name=f"{mirror_name}.{domain}", mirror_port=PACKAGE_MIRROR_TLS_PORT,
                       ca=host_tls()[2],
                       cache_mb=int(data("district_node__cache_mb")),
                       max_object_mb=int(data("district_node__max_object_mb"))),
        check="squid -k parse -f {path}", reload="systemctl restart squid",
    )
    systemd.service(name="local node: squid running", service="squid", running=True, enabled=True)
