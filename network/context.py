"""The rendering context: everything a router's template needs, prepared as plain data.

Templates are data in, text out: every lookup (peers, DC servers, areas), every piece of
arithmetic (masks, wildcards, sequence numbers) and every decision (which area is stub, which
router is an area border router) happens here, once, for every platform.

OSPF design. The province core and the district routers form the backbone (area 0). Each
district's communes form one area of their own, numbered by the district (``network__ospf_area``
on the district site, else its administrative code, e.g. area 193 for Ha Long, else index + 1);
the district routers are the area border routers and make the area totally stubby (communes
learn a default route only), so a commune's router holds a handful of routes however large the
province grows. Links are /31 point-to-point, loopbacks /32 and passive; LANs are passive in the
area of their site.

Variables: layered inventory variables namespaced ``network__``; inventory/defaults/network.yml
documents and sets each one, inventory/netvars.py types them (checked at ``egov inventory validate``).
Secrets (OSPF and TACACS+ keys, SNMPv3 keys, the break-glass user's and the enable hashes) come from
the secrets store (``egov.secrets``), never from the inventory; a value that would break a line (a
space, a quote, ``?`` which IOS reads as help) is refused here, naming the secret.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from egov.errors import InputError, NetworkError
from egov.secrets import Secrets
from inventory import netvars, ntp_keys
from inventory.model import Inventory, Router, Site
from inventory.services import SYSLOG_TLS_PORT, router_facing_ip
from network.drivers import driver_class

BACKBONE = IPv4Address("0.0.0.0")
BACKBONE_DEPTH = 1  # levels at depth 0 (province) and 1 (district) form area 0
# FRR routers are Linux hosts: users, AAA, SNMP and SSH are the host's (deploys), vtysh holds routing
HOST_MANAGED = frozenset({"frr"})
# OSPF authentication per platform: HMAC-SHA-256 where the platform has OSPFv2 key chains (RFC 5709),
# MD5 where it does not (FRR 8.4's ospfd refuses `ip ospf authentication key-chain`; Junos md5 keys
# rotate with start times without a key chain), whose keys are at most 16 characters
OSPF_AUTH = {"frr": "md5", "cisco_ios": "hmac-sha-256", "huawei_vrp": "hmac-sha256", "huawei_vrpv8": "hmac-sha256",
             "juniper_junos": "md5"}
MD5_KEY_MAX = 16
# a secret goes verbatim on a line: one word of printable ASCII, no quote, backslash or `?` (IOS help)
SECRET_VALUE = re.compile(r"""^[^\s"'\\?]+$""", re.ASCII)


def router_var(router: Router, key: str) -> Any:
    """A router's layered variable (inventory/defaults/network.yml documents and sets each one)."""
    return router.vars[key]


def _address(ip: IPv4Interface) -> dict[str, str]:
    """Every spelling of an interface address that some platform's syntax needs."""
    return {
        "ip": str(ip.ip),
        "prefixlen": str(ip.network.prefixlen),
        "mask": str(ip.network.netmask),
        "cidr": str(ip.with_prefixlen),
        "network": str(ip.network.network_address),
        "wildcard": str(ip.network.hostmask),
    }


def _network(net: IPv4Network) -> dict[str, str]:
    return {
        "cidr": str(net),
        "network": str(net.network_address),
        "prefixlen": str(net.prefixlen),
        "mask": str(net.netmask),
        "wildcard": str(net.hostmask),
    }


def site_area(inv: Inventory, site: Site) -> IPv4Address:
    """The OSPF area a site's interfaces belong to: the backbone down to the districts, then the
    area of the site's district."""
    if site.depth <= BACKBONE_DEPTH:
        return BACKBONE
    district = site
    while district.depth > BACKBONE_DEPTH:
        assert district.parent is not None  # depth > 0 always has a parent
        district = inv.sites[district.parent]
    number = district.vars.get("network__ospf_area")
    if not number:  # unset (or the backbone, which a district's communes never are): the district's code
        number = int(district.code) if district.code else district.index + 1
    if not isinstance(number, int) or not 1 <= number < 2**32:
        raise NetworkError(
            f"{inv.path}: site {district.name}: OSPF area {number!r} (network__ospf_area, else the district code) "
            "must be a whole number from 1 (0 is the backbone)"
        )
    return IPv4Address(number)


def _servers(inv: Inventory, role: str) -> list[dict[str, str]]:
    """The DC servers of a role, by the address routers reach them at (the server LAN)."""
    return [
        {"name": host.name, "ip": str(router_facing_ip(host))}
        for host in sorted(inv.hosts_with_role(role), key=lambda h: h.name)
    ]


def _static_routes(inv: Inventory, router: Router) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = []
    for number, route in enumerate(router_var(router, "network__static_routes")):
        where = f"{inv.path}: router {router.name}: network__static_routes[{number}]"
        try:
            prefix = IPv4Network(route["prefix"])
            hop = str(route["next_hop"])
            if hop != "blackhole":
                IPv4Address(hop)
        except (KeyError, TypeError, ValueError) as exc:
            raise NetworkError(f"{where}: needs prefix (CIDR) and next_hop (address or blackhole): {exc}") from None
        routes.append({**_network(prefix), "next_hop": hop, "blackhole": hop == "blackhole"})
    return sorted(routes, key=lambda r: (IPv4Network(r["cidr"]), r["next_hop"]))


def _router_int(inv: Inventory, router: Router, key: str) -> int:
    value = router_var(router, key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise NetworkError(f"{inv.path}: router {router.name}: {key} must be a whole number, not {value!r}")
    return value


def _secret(secrets: Secrets, router: Router, name: str, max_length: int = 128, min_length: int = 4) -> str:
    """A secret's value, checked to fit on one configuration line."""
    # VRP V8 prints its hashes as VRP does: a hash belongs to the configuration language
    name = name.replace("{syntax}", driver_class(router.platform).syntax)
    value = str(secrets.get(name))
    if not (value.isascii() and value.isprintable() and SECRET_VALUE.match(value)
            and min_length <= len(value) <= max_length):
        raise NetworkError(f"router {router.name}: secret '{name}' must be one word of printable ASCII without "
                           f"quotes, backslash or '?', {min_length} to {max_length} characters")
    return value


def _ospf_auth(secrets: Secrets, router: Router) -> dict[str, Any]:
    """The OSPF keys, active first: the platform's algorithm and each key's id and value."""
    algorithm = OSPF_AUTH[router.platform]
    longest = MD5_KEY_MAX if algorithm == "md5" else 80   # IOS key-string: at most 80 characters
    keys = [{"id": str(key["id"]), "key": _secret(secrets, router, str(key["secret"]), longest)}
            for key in router_var(router, "network__ospf_auth_keys")]
    return {"algorithm": algorithm, "ring": keys, "active": keys[0], "next": keys[1:]}


def _management(secrets: Secrets, router: Router) -> dict[str, Any]:
    """The management essentials a vendor router needs to stay reachable without TACACS+."""
    names = router_var(router, "network__credential_names")
    block = router_var(router, "network__login_block")
    return {
        "breakglass": {"user": str(router_var(router, "network__breakglass_user")),
                       "secret": _secret(secrets, router, names["breakglass"])},
        "enable_secret": _secret(secrets, router, names["enable"]),
        "tacacs_key": _secret(secrets, router, names["tacacs"]),
        "exec_timeout": str(router_var(router, "network__exec_timeout")),
        "ssh_timeout": str(router_var(router, "network__ssh_timeout")),
        "ssh_retries": str(router_var(router, "network__ssh_retries")),
        "login_block": {"attempts": str(block["attempts"]), "within": str(block["within"]),
                        "block_for": str(block["block_for"]),
                        # VRP and Junos count minutes: rounded up
                        "within_minutes": str(-(-int(block["within"]) // 60)),
                        "block_minutes": str(-(-int(block["block_for"]) // 60))},
    }


def _snmp(inv: Inventory, secrets: Secrets, router: Router) -> dict[str, Any]:
    names = router_var(router, "network__credential_names")
    snmp = router_var(router, "network__snmp")
    return {"user": str(snmp["user"]), "group": str(snmp["group"]),
            # SNMPv3 (RFC 3414 and every platform here): keys of at least 8 characters
            "auth": _secret(secrets, router, names["snmp_auth"], min_length=8),
            "priv": _secret(secrets, router, names["snmp_priv"], min_length=8),
            "hosts": _servers(inv, str(router_var(router, "network__snmp_role")))}


def _ntp_auth(inv: Inventory, secrets: Secrets, router: Router) -> dict[str, str] | None:
    """The router's NTP key (inventory/ntp_keys.py): its id, value and the platform's MAC."""
    seed = _secret(secrets, router, ntp_keys.seed_name(router), min_length=ntp_keys.SEED_MIN_LENGTH)
    try:
        key = ntp_keys.router_key(router, inv.plan.pools["loopback"], seed)
    except InputError as exc:
        raise NetworkError(f"{inv.path}: {exc}") from None
    return None if key is None else {"id": str(key.id), "key": key.key, "mac": key.router_mac}


def _syslog_tls(router: Router) -> dict[str, str] | None:
    """How the router sends syslog over TLS (RFC 5425) to the log hosts: the device's PKI object holding
    its certificate and the platform CA (``network__syslog_pki``, enrolled by the operator first) and the
    port; None when it sends plain UDP (``network__syslog_transport: udp``). FRR's template ignores it
    (its Linux host's rsyslog forwards)."""
    if router_var(router, "network__syslog_transport") == "udp":
        return None
    return {"pki": str(router_var(router, "network__syslog_pki")), "port": str(SYSLOG_TLS_PORT)}


def build_context(inv: Inventory, router: Router, secrets: Secrets) -> dict[str, Any]:
    """The complete, platform-neutral context of one router's configuration."""
    site = inv.sites[router.site]
    own_area = site_area(inv, site)
    wan = []
    for port in sorted(router.interfaces, key=lambda p: p.port):
        child = inv.routers[port.link.a.router]
        area = site_area(inv, inv.sites[child.site])
        wan.append({
            "name": port.name,
            # a trunk's sub-interface: the physical port, the VLAN, and Junos's unit (the VLAN; else 0)
            "port": port.trunk or port.name,
            "vlan": str(port.vlan) if port.vlan is not None else None,
            "unit": str(port.vlan or 0),
            **_address(port.ip),
            "peer": port.peer,
            "peer_loopback": str(inv.routers[port.peer].loopback),
            "description": f"WAN to {port.peer} ({port.link.subnet})",
            "area": str(area),
        })
    lans = [
        {"name": lan.name, "purpose": purpose, **_address(lan.ip), "area": str(own_area),
         "description": f"{purpose} LAN of {site.name}"}
        for purpose, lan in sorted(router.lan_interfaces.items())
    ]
    loopback = {**_address(IPv4Interface(f"{router.loopback}/32")), "area": str(own_area)}
    mgmt_net = site.subnets.get("mgmt")
    gateway = router_var(router, "network__mgmt_gateway")
    mgmt = {**_address(IPv4Interface(f"{router.mgmt_ip}/{mgmt_net.prefixlen if mgmt_net else 32}")),
            "name": router.mgmt_interface, "vrf": router.mgmt_vrf, "gateway": str(gateway) if gateway else None}

    # areas: each with its member interfaces, for platforms that configure OSPF per area
    members: dict[IPv4Address, list[dict[str, Any]]] = {own_area: [
        {"name": "loopback", "cidr": loopback["cidr"], "network": loopback["ip"], "wildcard": "0.0.0.0",
         "passive": True, "p2p": False, "loopback": True}]}
    for entry in wan:
        members.setdefault(IPv4Address(entry["area"]), []).append(
            {"name": entry["name"], "cidr": entry["cidr"], "network": entry["network"],
             "wildcard": entry["wildcard"], "passive": False, "p2p": True, "loopback": False,
             "logical": f"{entry['port']}.{entry['unit']}"})
    for lan in lans:
        members.setdefault(own_area, []).append(
            {"name": lan["name"], "cidr": lan["cidr"], "network": lan["network"],
             "wildcard": lan["wildcard"], "passive": True, "p2p": False, "loopback": False})
    areas = [
        {"id": str(area), "backbone": area == BACKBONE, "stub": area != BACKBONE, "interfaces": interfaces}
        for area, interfaces in sorted(members.items())
    ]
    spf = router_var(router, "network__ospf_spf_throttle")
    if not (isinstance(spf, list) and len(spf) == 3 and all(isinstance(v, int) and v >= 0 for v in spf)):
        raise NetworkError(f"{inv.path}: router {router.name}: network__ospf_spf_throttle must be "
                           f"[delay, hold, max] in milliseconds, not {spf!r}")
    hello = _router_int(inv, router, "network__ospf_hello")
    dead = _router_int(inv, router, "network__ospf_dead")
    if dead <= hello:
        raise NetworkError(f"{inv.path}: router {router.name}: network__ospf_dead ({dead}) must exceed "
                           f"network__ospf_hello ({hello})")
    acl = [{**_network(net), "seq": str(5 * number), "name": f"NOC-{number}"}
           for number, net in enumerate(sorted(inv.noc_networks), start=1)]

    def servers(role_key: str) -> list[dict[str, str]]:
        return _servers(inv, str(router_var(router, role_key)))

    host_managed = router.platform in HOST_MANAGED
    model = netvars.router_model(router.vars)
    trunks = sorted({port.trunk for port in router.interfaces if port.trunk})
    # physical WAN ports, each with its units (a trunk's sub-interfaces; else unit 0): Junos nests them
    physical: dict[str, list[dict[str, Any]]] = {}
    for entry in wan:
        physical.setdefault(str(entry["port"]), []).append(entry)
    wan_ports = [{"name": name, "trunk": name in trunks, "units": units} for name, units in sorted(physical.items())]
    return {
        "device": {"name": router.name, "site": site.name, "level": site.level, "platform": router.platform,
                   "model": router.model, "domain": inv.province.domain,
                   "flow_security": bool(model and model.flow_security)},
        "management": None if host_managed else _management(secrets, router),
        "snmp": None if host_managed else _snmp(inv, secrets, router),
        "trunks": trunks,
        "wan_ports": wan_ports,
        "banner": str(router_var(router, "network__banner")),
        "loopback": loopback,
        "mgmt": mgmt,
        "mgmt_acl": acl,
        "wan": wan,
        "lans": lans,
        "ospf": {
            "router_id": str(router.loopback),
            "hello": str(hello),
            "dead": str(dead),
            "spf_delay": str(spf[0]), "spf_hold": str(spf[1]), "spf_max": str(spf[2]),
            "reference_bandwidth": str(_router_int(inv, router, "network__ospf_reference_bandwidth")),
            "areas": areas,
            "stub_areas": [area for area in areas if area["stub"]],
            "stub_default_metric": str(_router_int(inv, router, "network__ospf_stub_default_metric")),
            "auth": _ospf_auth(secrets, router),
        },
        "ntp": servers("network__ntp_role"),
        "ntp_auth": None if host_managed else _ntp_auth(inv, secrets, router),
        "syslog": servers("network__log_role"),
        "syslog_tls": _syslog_tls(router),
        "aaa": servers("network__aaa_role"),
        "static_routes": _static_routes(inv, router),
    }


def expected_peers(inv: Inventory, router: Router) -> dict[str, str]:
    """The OSPF neighbours the inventory implies for a router: peer name -> router id (loopback)."""
    return {port.peer: str(inv.routers[port.peer].loopback) for port in router.interfaces}


def settle_seconds(inv: Inventory, router: Router) -> int:
    """How long after a change an adjacency it broke may still look Full: the longest OSPF dead
    interval on the router's links, plus a second."""
    routers = [router, *(inv.routers[port.peer] for port in router.interfaces)]
    return 1 + max(_router_int(inv, each, "network__ospf_dead") for each in routers)
