"""The loaded inventory: plain typed objects every other package reads (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

from egov.errors import InventoryError
from inventory.ipplan import IPPlan
from inventory.layers import Resolved
from inventory.services import canonical_role


@dataclass(frozen=True)
class Province:
    name: str
    code: str
    domain: str


@dataclass(frozen=True)
class Level:
    name: str
    depth: int
    max_sites: int
    max_routers: int
    max_uplinks: int
    subnets: dict[str, int]     # purpose -> prefix length
    defaults: dict[str, Any]


@dataclass(eq=False)
class Site:
    name: str
    title: str
    code: str | None
    level: str
    kind: str
    parent: str | None
    index: int
    depth: int
    subnets: dict[str, IPv4Network]
    overrides: frozenset[str]          # purposes whose subnet the YAML states explicitly
    hosts: list[str] = field(default_factory=list)
    routers: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    layers: Resolved = field(default_factory=Resolved, repr=False)

    @property
    def vars(self) -> dict[str, Any]:
        return self.layers.values


@dataclass(eq=False)
class Host:
    name: str
    site: str
    slot: int
    roles: list[str]
    mgmt_ip: IPv4Address
    server_ip: IPv4Address | None
    layers: Resolved = field(default_factory=Resolved, repr=False)

    @property
    def vars(self) -> dict[str, Any]:
        return self.layers.values

    # resources are layered variables (host__cpu ...) so a level or site can set them for all its hosts
    @property
    def cpu(self) -> int:
        return int(self.vars["host__cpu"])

    @property
    def memory_gb(self) -> int:
        return int(self.vars["host__memory_gb"])

    @property
    def disk_gb(self) -> int:
        return int(self.vars["host__disk_gb"])


@dataclass(frozen=True, eq=False)
class Endpoint:
    router: str
    port: int
    ifname: str
    ip: IPv4Interface


@dataclass(eq=False)
class Link:
    name: str
    subnet: IPv4Network
    a: Endpoint     # the child (lower level) router
    b: Endpoint     # the parent router


@dataclass(eq=False)
class Interface:
    """A router's WAN port."""

    name: str
    port: int
    ip: IPv4Interface
    peer: str
    link: Link
    vlan: int | None = None     # a dot1q sub-interface of ``trunk`` (a hub's link to a child router)
    trunk: str | None = None


@dataclass(frozen=True)
class LanInterface:
    """A router's port on one of its site's LANs (``server``, ``user``), named by the platform's template."""

    name: str
    purpose: str
    ip: IPv4Interface


@dataclass(eq=False)
class Router:
    name: str
    site: str
    slot: int
    uplinks: list[str]
    loopback: IPv4Address
    mgmt_ip: IPv4Address
    mgmt_interface: str = ""            # the out-of-band port (its model's, else the platform's generic one)
    mgmt_vrf: str | None = None         # the VRF / routing instance that port lives in (None: global table)
    lan_interfaces: dict[str, LanInterface] = field(default_factory=dict)
    interfaces: list[Interface] = field(default_factory=list)
    layers: Resolved = field(default_factory=Resolved, repr=False)

    @property
    def vars(self) -> dict[str, Any]:
        return self.layers.values

    # platform and model are layered (router__platform ...) so a level states its usual platform once
    @property
    def platform(self) -> str:
        return str(self.vars["router__platform"])

    @property
    def model(self) -> str:
        return str(self.vars.get("router__model") or "")

    @property
    def lan_ips(self) -> dict[str, IPv4Interface]:
        return {purpose: lan.ip for purpose, lan in self.lan_interfaces.items()}


@dataclass(frozen=True)
class Agency:
    """An agency: its portal answers at ``portal`` (a virtual host of the portal application) and its
    mail is under ``mail_domain`` (its own, else the province's shared domain)."""

    code: str
    name: str
    short: str
    level: str          # its site's level
    site: str
    portal: str         # host name, e.g. "snv.quangninh.gov.vn"
    mail_domain: str    # e.g. "quangninh.gov.vn" (shared) or the agency's own
    confirmed: bool = True   # False: the name awaits a check against the official list


@dataclass(eq=False)
class Inventory:
    path: Path
    environment: str
    province: Province
    levels: list[Level]
    sites: dict[str, Site]
    hosts: dict[str, Host]
    routers: dict[str, Router]
    links: list[Link]
    plan: IPPlan
    noc_networks: list[IPv4Network]
    agencies: dict[str, Agency] = field(default_factory=dict)   # code -> Agency, in file order

    def level(self, name: str) -> Level:
        return next(lvl for lvl in self.levels if lvl.name == name)

    def hosts_with_role(self, role: str) -> list[Host]:
        """The hosts with ``role`` (an old role name is its level-neutral role's alias), in file order."""
        role = canonical_role(role)
        return [host for host in self.hosts.values() if role in host.roles]

    def descendants(self, site: str) -> list[str]:
        """``site`` and every site below it, top first."""
        out, queue = [], [site]
        while queue:
            name = queue.pop(0)
            out.append(name)
            queue.extend(self.sites[name].children)
        return out

    def origin(self, obj: Site | Host | Router, key: str) -> str | None:
        """Which layer gave ``obj`` its value of ``key`` (a dotted path reaches into mappings):
        ``"host dc-db1"``, ``"site dc"``, ``"level district"``, ``"province"`` or
        ``"defaults inventory/defaults/base.yml"``; None when no layer sets it."""
        return obj.layers.origin(key)

    def select(self, limits: Iterable[str] = ()) -> tuple[list[Host], list[Router]]:
        """Hosts and routers matching any of ``limits`` (site name with its descendants, level, role,
        host or router name), in file order. No limits: everything. A limit that matches nothing is an error."""
        limits = list(limits)
        if not limits:
            return list(self.hosts.values()), list(self.routers.values())
        sites: set[str] = set()
        names: set[str] = set()
        unknown = []
        for limit in limits:
            matched = False
            if limit in self.sites:
                sites.update(self.descendants(limit))
                matched = True
            level_sites = [s.name for s in self.sites.values() if s.level == limit]
            if level_sites:
                sites.update(level_sites)
                matched = True
            role_hosts = [h.name for h in self.hosts_with_role(limit)]
            if role_hosts:
                names.update(role_hosts)
                matched = True
            if limit in self.hosts or limit in self.routers:
                names.add(limit)
                matched = True
            if not matched:
                unknown.append(limit)
        if unknown:
            raise InventoryError([f"{self.path}: --limit {u}: no site, level, role, host or router has this name"
                                  for u in unknown])
        hosts = [h for h in self.hosts.values() if h.name in names or h.site in sites]
        routers = [r for r in self.routers.values() if r.name in names or r.site in sites]
        return hosts, routers
