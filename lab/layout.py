"""What a lab is made of, derived from the inventory alone (pure: no Docker, no I/O).

The plan names every network, container, interface and veth pair of the lab, so that
``lab up`` can compare it with what runs and ``lab down`` knows what belongs to the lab.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING, Any, Literal

from egov.errors import LabError
from inventory.services import router_facing_ip

if TYPE_CHECKING:
    from inventory.model import Inventory

MGMT_IFNAME = "eth0"
HOST_LAN_IFNAME = "eth1"


@dataclass(frozen=True)
class NetworkSpec:
    """One internal Docker network: its subnet and the address this machine holds on it."""

    name: str
    subnet: IPv4Network
    gateway: IPv4Address
    purpose: str


@dataclass(frozen=True)
class Attachment:
    """A node's interface on a lab network, renamed inside the node to ``ifname``."""

    network: str
    ip: IPv4Address
    ifname: str


@dataclass(frozen=True)
class NodeSpec:
    """One container: a host or a router of the inventory.

    + syslog_source, syslog_targets: a router's Loopback0 and its log hosts (as routers reach them,
      with their names): its Linux host forwards FRR's syslog there, as the vendors' ``logging host`` does
    + syslog_tls: over TLS, the router showing its certificate of the lab CA (``network__syslog_transport``)
    """

    name: str
    container: str
    kind: Literal["host", "router"]
    mgmt_ip: IPv4Address
    attachments: tuple[Attachment, ...]
    routes: tuple[tuple[IPv4Network, IPv4Address], ...] = ()
    syslog_source: IPv4Address | None = None
    syslog_targets: tuple[tuple[str, IPv4Address], ...] = ()
    syslog_tls: bool = False

    def recipe(self, image: str) -> str:
        """A digest of everything the container is created from: a change means re-create it."""
        data = json.dumps([image, self.kind, [asdict(a) for a in self.attachments],
                           [self.syslog_source, self.syslog_targets, self.syslog_tls]], default=str)
        return hashlib.sha256(data.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class VethSpec:
    """A WAN link: a veth pair with one end in each router (no addresses: the network layer sets them)."""

    link: str
    a: str
    a_ifname: str
    b: str
    b_ifname: str


@dataclass
class LabPlan:
    name: str
    control_ip: IPv4Address
    supernet: IPv4Network
    routers_only: bool = False
    networks: list[NetworkSpec] = field(default_factory=list)
    nodes: dict[str, NodeSpec] = field(default_factory=dict)
    veths: list[VethSpec] = field(default_factory=list)

    def network(self, purpose: str) -> NetworkSpec:
        return next(n for n in self.networks if n.purpose == purpose)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))


def _lan_gateway(subnet: IPv4Network, taken: set[IPv4Address]) -> IPv4Address:
    """The bridge's own address on a LAN: the highest usable one no node uses."""
    candidate = subnet.broadcast_address - 1
    while candidate in taken:
        candidate -= 1
        if candidate <= subnet.network_address:
            raise LabError(f"no free address left in {subnet} for the lab bridge")
    return candidate


def plan_lab(inv: Inventory, name: str, routers_only: bool = False) -> LabPlan:
    """The lab for an inventory: networks, nodes (hosts then routers) and WAN veth pairs.
    ``routers_only``: the WAN alone (routers on the management network and their links; no
    hosts, so no server LANs either), e.g. a whole province's 198 routers."""
    plan = LabPlan(name=name, control_ip=inv.plan.control_ip, supernet=inv.plan.supernet, routers_only=routers_only)
    mgmt = NetworkSpec(f"{name}-mgmt", inv.plan.pools["mgmt"], inv.plan.control_ip, "mgmt")
    plan.networks.append(mgmt)
    lans: dict[str, NetworkSpec] = {}
    for site in inv.sites.values():
        if not site.hosts or routers_only:
            continue
        subnet = site.subnets.get("server")
        if subnet is None:
            raise LabError(f"site {site.name} has hosts but no server subnet in the IP plan")
        taken = {ip for h in site.hosts if (ip := inv.hosts[h].server_ip)} | {
            inv.routers[r].lan_interfaces["server"].ip.ip for r in site.routers
            if "server" in inv.routers[r].lan_interfaces}
        lans[site.name] = NetworkSpec(f"{name}-{site.name}-server", subnet, _lan_gateway(subnet, taken),
                                      f"server:{site.name}")
        plan.networks.append(lans[site.name])

    for host in [] if routers_only else inv.hosts.values():
        attachments = [Attachment(mgmt.name, host.mgmt_ip, MGMT_IFNAME)]
        routes: list[tuple[IPv4Network, IPv4Address]] = []
        lan = lans.get(host.site)
        if lan is not None and host.server_ip is not None:
            attachments.append(Attachment(lan.name, host.server_ip, HOST_LAN_IFNAME))
            site = inv.sites[host.site]
            first = next((inv.routers[r] for r in site.routers if "server" in inv.routers[r].lan_interfaces), None)
            if first is not None:
                # the whole supernet via the site's router, but no default route out of the lab
                routes.append((inv.plan.supernet, first.lan_interfaces["server"].ip.ip))
        plan.nodes[host.name] = NodeSpec(host.name, f"{name}-{host.name}", "host", host.mgmt_ip,
                                         tuple(attachments), tuple(routes))

    for router in inv.routers.values():
        attachments = [Attachment(mgmt.name, router.mgmt_ip, MGMT_IFNAME)]
        lan = lans.get(router.site)
        if lan is not None and "server" in router.lan_interfaces:
            port = router.lan_interfaces["server"]
            attachments.append(Attachment(lan.name, port.ip.ip, port.name))
        log_hosts = sorted(inv.hosts_with_role(str(router.vars["network__log_role"])), key=lambda h: h.name)
        plan.nodes[router.name] = NodeSpec(router.name, f"{name}-{router.name}", "router", router.mgmt_ip,
                                           tuple(attachments), syslog_source=router.loopback,
                                           syslog_targets=tuple((h.name, router_facing_ip(h)) for h in log_hosts),
                                           syslog_tls=router.vars["network__syslog_transport"] == "tls")

    for link in inv.links:
        plan.veths.append(VethSpec(link.name, link.a.router, link.a.ifname, link.b.router, link.b.ifname))
    return plan


def rename_steps(current: dict[str, str], wanted: dict[str, str]) -> list[tuple[str, str]]:
    """Interface renames that give each address its wanted interface name.

    + current: address -> interface name that holds it now (Docker names them eth0, eth1, ...
      in an order of its own)
    + wanted: address -> the name it must have
    Returns (old, new) steps; names that are already right are left alone. Interfaces to move
    go through a temporary name first, so two that swap names never collide.
    """
    missing = sorted(set(wanted) - set(current))
    if missing:
        raise LabError(f"no interface holds {', '.join(missing)}")
    moves = {current[ip]: wanted[ip] for ip in wanted if current[ip] != wanted[ip]}
    steps = [(old, f"egtmp{i}") for i, old in enumerate(sorted(moves))]
    steps += [(f"egtmp{i}", moves[old]) for i, old in enumerate(sorted(moves))]
    return steps
