"""The services table: every role, what its services listen on, and the facts several layers share.

Plain data with no pyinfra import. The inventory validator (role names, the Tier 3 rule), the
deploys (the order roles are applied in, the firewall's openings), ``egov verify`` (what may
listen, where the entry point is), monitoring and the lab all read it, so each fact has one home.

A port is ``"tcp/53"``, ``"udp/123"`` or ``"vrrp"`` (IP protocol 112, no number). A number in
braces names the setting that holds it (``"tcp/{monitoring__prometheus_port}"``), resolved from
the host's layered vars, so an inventory that moves a service moves its firewall opening too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from egov.errors import InventoryError
from inventory.applications import APPS

if TYPE_CHECKING:
    from ipaddress import IPv4Address

    from inventory.model import Host, Inventory, Router

# apt-cacher-ng's port: the DC package mirror's (on its loopback only), and the lab's proxy on the
# control machine
PACKAGE_CACHE_PORT = 3142
# where the DC package mirror's nginx terminates TLS in front of apt-cacher-ng: every other host's
# apt and every local node's squid reach the mirror only there (apt's proxy over HTTPS)
PACKAGE_MIRROR_TLS_PORT = 3143
# where the web role's nginx terminates TLS; the load balancer passes HTTPS through to it
WEB_PORT = 8443
# syslog over TLS (RFC 5425): every host forwards its logs to the DC log hosts there
SYSLOG_TLS_PORT = 6514
# DNS over TLS (RFC 7858): the DC resolvers serve it, the local nodes forward their questions over it
DNS_TLS_PORT = 853
# NTS key establishment (RFC 8915), chrony's default ntsport: the DC time servers serve it, every
# other host gets its keys there, then asks the time over udp/123 with each packet authenticated
NTS_KE_PORT = 4460
# plain syslog (UDP, RFC 5426) from the Loopback0 of a router not enrolled for TLS yet
# (network__syslog_transport: udp; docs/network.md, "Logging"), opened by the log host's firewall
# from those routers' loopbacks only
SYSLOG_ROUTER_PORT = 514
# The host's own certificate and key, installed by base (deploys/base.py), which every TLS service
# between hosts serves and shows as a client: syslog, PostgreSQL, the exporters, Prometheus.
HOST_CERT = "/etc/ssl/egov/host.crt"
HOST_KEY = "/etc/ssl/egov/host.key"
# where the platform CA is added to a host's trust store (Debian's update-ca-certificates), and the bundle
TRUSTED_CA = "/usr/local/share/ca-certificates/egov-lab-ca.crt"
SYSTEM_CAS = "/etc/ssl/certs/ca-certificates.crt"
# The settings of every port that serves the Prometheus stack's web config (HTTPS and basic auth
# only: monitoring/webconfig.py): the exporters of every host, then a monitoring host's servers.
AUTHENTICATED_PORTS = ("monitoring__node_exporter_port", "monitoring__postgres_exporter_port",
                       "monitoring__egov_exporter_port", "monitoring__prometheus_port",
                       "monitoring__alertmanager_port", "monitoring__blackbox_port")
# the local node's squid, its unit's way to the DC mirror
DISTRICT_PROXY_PORT = 3128
# the platform's public names, served by the DC DNS on the load balancer's VIP, on the web certificate
SERVICE_NAMES = ("www", "dichvucong", "portal", "docmgmt", "onestop", "specdb")
# the VIP's default address in the first lb host's server LAN: .1 is the site's router, hosts start at .10
VIP_OFFSET = 5
# the directory's LDAP over TLS (ldaps); plain LDAP (389) is not served at all
DIRECTORY_PORT = 636
# where each core application keeps its config (``<APP_CONFIG_DIR>/<app>.ini``)
APP_CONFIG_DIR = "/etc/egov"


@dataclass(frozen=True)
class Role:
    """One role of the table.

    + name: what an inventory host's ``roles`` says (an every-host role is never named there)
    + ports: what its services listen on, opened by the host's firewall
    + router_ports: what its services listen on for the routers not enrolled for TLS only, opened
      from their loopbacks alone (``plain_syslog_sources``), and neither served nor opened when none is
    + closed_ports: what its services bind that no one may reach: an expected listener (NET-02)
      that the firewall leaves closed
    + every_host: applied to every host, before its own roles
    + critical: Tier 3 (N+1): needs at least two hosts in the data centre
    """

    name: str
    ports: tuple[str, ...] = ()
    router_ports: tuple[str, ...] = ()
    closed_ports: tuple[str, ...] = ()
    every_host: bool = False
    critical: bool = False


# In deploy order: services others depend on first; web before lb, because nginx's package starts
# on port 80 until the web role reconfigures it, and HAProxy owns port 80 on hosts that carry both.
# The core applications' ports are open too: the web role on the other DC host proxies to them,
# monitoring probes them. Alertmanager's cluster gossip speaks TCP and UDP.
TABLE: tuple[Role, ...] = (
    Role("base", every_host=True),
    Role("exporters", ("tcp/{monitoring__node_exporter_port}", "tcp/{monitoring__postgres_exporter_port}",
                       "tcp/{monitoring__egov_exporter_port}"), every_host=True),
    Role("backup_source", every_host=True),
    Role("mirror", (f"tcp/{PACKAGE_MIRROR_TLS_PORT}",)),
    Role("ntp", ("udp/123", f"tcp/{NTS_KE_PORT}")),
    # unbound before 1.22 (Debian 12: 1.17) binds plain UDP on its DNS-over-TLS port too
    # (NLnetLabs/unbound#143): closed, so only TLS over TCP answers there
    Role("dns", ("tcp/53", "udp/53", f"tcp/{DNS_TLS_PORT}"), closed_ports=(f"udp/{DNS_TLS_PORT}",), critical=True),
    Role("log", (f"tcp/{SYSLOG_TLS_PORT}",), router_ports=(f"udp/{SYSLOG_ROUTER_PORT}",)),
    Role("directory", (f"tcp/{DIRECTORY_PORT}",), critical=True),
    Role("db", ("tcp/5432",), critical=True),
    Role("web", ("tcp/80", "tcp/443", f"tcp/{WEB_PORT}"), critical=True),
    Role("lb", ("tcp/80", "tcp/443", "vrrp"), critical=True),
    Role("mail", ("tcp/25", "tcp/587", "tcp/993")),
    Role("backup"),
    Role("bastion"),
    *(Role(role, (f"tcp/{app.port}",), critical=True) for role, app in APPS.items()),
    Role("local_node", ("tcp/53", "udp/53", f"tcp/{DISTRICT_PROXY_PORT}", "tcp/80", "tcp/443")),
    Role("monitoring", ("tcp/{monitoring__prometheus_port}", "tcp/{monitoring__alertmanager_port}",
                        "tcp/{monitoring__alertmanager_cluster_port}", "udp/{monitoring__alertmanager_cluster_port}",
                        "tcp/{monitoring__blackbox_port}", "tcp/{monitoring__alert_receiver_port}",
                        "tcp/{monitoring__web_port}")),
)
BY_NAME: dict[str, Role] = {role.name: role for role in TABLE}
ORDER = tuple(role.name for role in TABLE)
EVERY_HOST = tuple(role.name for role in TABLE if role.every_host)
# what an inventory may name, and what the Tier 3 rule counts
INVENTORY_ROLES = tuple(role.name for role in TABLE if not role.every_host)
CRITICAL_ROLES = tuple(role.name for role in TABLE if role.critical)

# The three-level structure's role names, accepted as aliases of the level-neutral ones (an inventory's
# ``roles``, ``--limit``, ``hosts_with_role``); the model holds the new name (docs/inventory.md).
ROLE_ALIASES = {"district_node": "local_node"}


def canonical_role(role: str) -> str:
    """The role ``role`` names: itself, or the level-neutral role an old name is an alias of."""
    return ROLE_ALIASES.get(role, role)


_SETTING = re.compile(r"\{(\w+)\}")


def roles_of(host_roles: Iterable[str]) -> list[str]:
    """The roles to apply on a host: ``EVERY_HOST`` and its own, once each, in ``ORDER``."""
    wanted = {*EVERY_HOST, *host_roles}
    return [r for r in ORDER if r in wanted] + sorted(wanted - set(ORDER))


def listen_ports(host_roles: Iterable[str], host_vars: Mapping[str, Any], host: str = "") -> list[str]:
    """Sorted, unique ports the services of a host listen on (``"tcp/9090"``, ``"vrrp"``), the ports
    that serve the routers only among them.

    + host_roles: the host's own roles (every-host roles are added)
    + host_vars: the host's resolved layered vars, where the settings named in braces are read
    + host: its name, for the error when a setting is missing or not a port number
    """
    def setting(match: re.Match[str]) -> str:
        key = match.group(1)
        value = host_vars.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise InventoryError(f"{host or 'host'}: {key}: expected a port number (1-65535), got {value!r}")
        return str(value)

    return sorted({_SETTING.sub(setting, port) for role in roles_of(host_roles) if role in BY_NAME
                   for port in (*BY_NAME[role].ports, *BY_NAME[role].router_ports)})


def closed_ports(host_roles: Iterable[str]) -> list[str]:
    """Sorted, unique ports the services of a host bind that its firewall keeps closed (``Role.closed_ports``)."""
    return sorted({port for role in roles_of(host_roles) if role in BY_NAME for port in BY_NAME[role].closed_ports})


def router_only_ports(host_roles: Iterable[str]) -> list[str]:
    """Sorted, unique ports among ``listen_ports`` that serve the routers only (``Role.router_ports``)."""
    return sorted({port for role in roles_of(host_roles) if role in BY_NAME for port in BY_NAME[role].router_ports})


def router_facing_ip(host: Host) -> IPv4Address:
    """Where routers reach a DC server (their NTP, syslog and AAA servers): its server LAN address,
    else its management one."""
    return host.server_ip or host.mgmt_ip


def plain_syslog_routers(inv: Inventory) -> list[Router]:
    """The routers that send plain UDP syslog (``network__syslog_transport: udp``), by name."""
    return sorted((r for r in inv.routers.values() if r.vars["network__syslog_transport"] == "udp"),
                  key=lambda r: r.name)


def plain_syslog_sources(inv: Inventory) -> list[str]:
    """The only senders a log host takes plain UDP syslog from: the Loopback0 (``/32``) of each
    router that sends it; nothing (no UDP input, no opening) when every router uses TLS."""
    return [f"{router.loopback}/32" for router in plain_syslog_routers(inv)]


def router_addresses(inv: Inventory) -> list[tuple[str, str]]:
    """(address, router) for every address a router may send from (Loopback0, its WAN and LAN
    ports, management): a log host names a router's file by the sender's address as the inventory
    knows it, never by what the message says. A router's TCP session (TLS) leaves from the port
    towards the log host unless the platform binds it to Loopback0."""
    found: dict[str, str] = {}
    for router in sorted(inv.routers.values(), key=lambda r: r.name):
        for address in (router.loopback, *(port.ip.ip for port in router.interfaces),
                        *(lan.ip.ip for lan in router.lan_interfaces.values()), router.mgmt_ip):
            found.setdefault(str(address), router.name)
    return list(found.items())


def peer_ca(host_vars: Mapping[str, Any]) -> str:
    """The CA file a host checks its peers' host certificates against: the platform CA, or the
    system's bundle when the inventory's host certificates are a public CA's (``host__cert_file``
    without ``host__ca_file``)."""
    public = host_vars.get("host__cert_file") and not host_vars.get("host__ca_file")
    return SYSTEM_CAS if public else TRUSTED_CA


def vip(inv: Inventory) -> str | None:
    """The VIP of the inventory's ``lb`` hosts (``lb__vip`` of the first one, else .5 of its server LAN)."""
    lbs = inv.hosts_with_role("lb")
    if not lbs:
        return None
    first = lbs[0]
    if first.vars.get("lb__vip"):
        return str(first.vars["lb__vip"])
    subnet = inv.sites[first.site].subnets.get("server")
    if subnet is None:
        raise InventoryError(f"{first.name}: lb__vip is not set and site {first.site} has no server LAN")
    return str(subnet.network_address + VIP_OFFSET)


def mail_name(inv: Inventory) -> str:
    """The mail host's name, on its certificate: ``mail.<province domain>``."""
    return f"mail.{inv.province.domain}"  # reserved_hosts() keeps agencies off it


def reserved_hosts(domain: str) -> dict[str, str]:
    """The host names the platform's own services hold under ``domain`` (host -> what holds it): an
    agency's portal may not take one."""
    names = {f"{name}.{domain}": f"service name {name}" for name in SERVICE_NAMES}
    return {**names, f"mail.{domain}": "mail host", domain: "main portal"}


def app_config_path(role: str) -> str:
    """Where the app of ``role`` keeps its config (the apps role writes it, ``egov verify`` reads it)."""
    return f"{APP_CONFIG_DIR}/{APPS[role].name}.ini"


def directory_name(inv: Inventory) -> str:
    """The directory's service name, on its certificate: ``ldap.<province domain>``."""
    return f"ldap.{inv.province.domain}"


def directory_base(inv: Inventory) -> str:
    """The directory's base DN, from the province's domain: ``dc=quangninh,dc=gov,dc=vn``."""
    return ",".join(f"dc={part}" for part in inv.province.domain.lower().split("."))
