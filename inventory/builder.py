"""Build the model from a schema-valid spec: levels, the IP plan, sites, hosts, routers and WAN links.

Addresses come from the plan (``inventory.ipplan``), variables from the layers (``inventory.layers``).
The rules of ``inventory.rules`` are applied as each item is met; an item a rule refuses is left
out where building on it would only repeat the problem. Every problem goes to ``problems``; the
caller raises them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

from inventory import netvars, rules
from inventory.ipplan import HOST_OFFSET, ROUTER_OFFSET, IPPlan, address, interface, layout
from inventory.layers import Resolved, plain
from inventory.model import (
    Agency,
    Endpoint,
    Host,
    Interface,
    Inventory,
    LanInterface,
    Level,
    Link,
    Province,
    Router,
    Site,
)
from inventory.rules import Finding
from inventory.schema import KIND_ALIASES, InventorySpec
from inventory.services import INVENTORY_ROLES, ROLE_ALIASES, canonical_role, reserved_hosts
from inventory.source import FieldPath, Problems

LAN_PURPOSES = ("server", "user")
VLAN_BASE = 100   # a child link on a trunk: VLAN 100 + its plan port number (stable, as the number is)
VLAN_MAX = 4094


@dataclass(frozen=True)
class PortName:
    """A WAN port's name, and for a dot1q sub-interface its VLAN and the trunk port carrying it."""

    name: str
    vlan: int | None = None
    trunk: str | None = None


def build_model(path: Path, spec: InventorySpec, base: Resolved, problems: Problems, broken: set[str]) -> Inventory:
    """The inventory of ``spec`` (its ``sites``: a SiteSpec, or None for a site that failed the schema).

    + base: the layers below the levels (the defaults files and the province's ``defaults``)
    + broken: names in the sites that failed the schema: not checked again, never reported as missing
    """
    return _Builder(path, spec, base, problems, broken).build()


class _Builder:
    def __init__(self, path: Path, spec: InventorySpec, base: Resolved, problems: Problems,
                 broken: set[str]) -> None:
        self.path = path
        self.spec = spec
        self.base = base
        self.problems = problems
        self.broken = broken
        self.levels: dict[str, Level] = {}
        self.site_pos: dict[str, int] = {}
        self.sites: dict[str, Site] = {}
        self.hosts: dict[str, Host] = {}
        self.routers: dict[str, Router] = {}
        self.links: list[Link] = []
        self.node_field: dict[str, FieldPath] = {}   # host/router name -> its field, for messages
        self.bad_templates: set[tuple[str, str]] = set()  # (origin, key) of name templates reported

    def report(self, *findings: Finding | None) -> bool:
        """Add the findings of a rule; True when there was one."""
        found = False
        for finding in findings:
            if finding is not None:
                self.problems.add(*finding)
                found = True
        return found

    def network_vars(self, where: FieldPath, values: Any) -> None:
        """The network variables one layer writes, checked where they are written (a mapping as merged over
        the defaults and the province's: a layer may change one entry of it)."""
        if isinstance(values, dict):
            for key, loc, message in netvars.layer_problems(values, self.base.values):
                self.problems.add((*where, key, *loc), message)

    def build(self) -> Inventory:
        spec = self.spec
        self.network_vars(("defaults",), spec.defaults)
        self._levels()
        self.plan = plan = layout(spec.plan.supernet, list(self.levels.values()), spec.plan.control_ip)
        self.report(*rules.plan_problems(spec.plan, plan))
        self._sites(plan)
        self._nodes()
        self.report(*rules.name_clashes(self.levels, self.site_pos, self.node_field, [*INVENTORY_ROLES, *ROLE_ALIASES]))
        self._links()
        if not self.broken:  # a broken site's hosts cannot be counted
            self.report(*rules.tier3(self.sites, self.hosts, self.site_pos))
        self.report(*rules.overlaps(self.sites, self.routers, self.links, plan, self.site_pos, self.node_field,
                                    spec.plan.control_ip is not None))
        plan.sites = list(self.sites.values())
        agencies = self._agencies()
        noc, found = rules.noc_networks(self.sites, self.hosts, plan, self.base.values.get("noc__extra_networks"))
        self.report(*found)
        return Inventory(
            path=self.path, environment=spec.environment,
            province=Province(spec.province.name, spec.province.code, spec.province.domain),
            levels=list(self.levels.values()), sites=self.sites, hosts=self.hosts, routers=self.routers,
            links=self.links, plan=plan, noc_networks=noc, agencies=agencies,
        )

    def _levels(self) -> None:
        for i, lvl in enumerate(self.spec.levels):
            if self.report(rules.level_twice(i, lvl, self.levels)):
                continue
            self.report(*rules.level_problems(i, lvl))
            self.network_vars(("levels", i, "defaults"), lvl.defaults)
            # a prefix out of range is reported above and clamped, so the plan can still be laid out
            self.levels[lvl.name] = Level(lvl.name, len(self.levels), lvl.max_sites, lvl.max_routers,
                                          lvl.max_uplinks, {p: min(max(n, 16), 30) for p, n in lvl.subnets.items()},
                                          plain(lvl.defaults))

    # --- sites -----------------------------------------------------------------------------------

    def _sites(self, plan: IPPlan) -> None:
        specs = self.spec.sites
        self.site_pos, found = rules.first_sites(specs, self.problems.source.line)
        self.report(*found)
        site_levels = {name: specs[i].level for name, i in self.site_pos.items()}
        taken: dict[tuple[str, int], str] = {}
        for name, i in self.site_pos.items():
            site = specs[i]
            if self.report(rules.unknown_level(i, site, self.levels)):
                continue
            level = self.levels[site.level]
            self.network_vars(("sites", i, "vars"), site.vars)
            self.report(rules.parent_problem(i, site, level, self.levels, site_levels, self.broken),
                        rules.index_problem(i, site, level, taken.setdefault((site.level, site.index), name)),
                        *rules.subnet_problems(i, site, level, plan))
            subnets: dict[str, IPv4Network] = {}
            for purpose in level.subnets:
                net = site.subnets.get(purpose) or plan.unit(level.name, purpose, site.index)
                if net is not None:
                    subnets[purpose] = net
            self.sites[name] = Site(
                name=name, title=site.title or name, code=site.code, level=site.level,
                kind=KIND_ALIASES.get(site.kind, site.kind),
                parent=site.parent, index=site.index, depth=level.depth, subnets=subnets,
                overrides=frozenset(site.subnets),
            )
        for built in self.sites.values():
            if built.parent in self.sites:
                self.sites[built.parent].children.append(built.name)
        for built in self.sites.values():
            built.layers = self._site_layers(built)

    def _site_layers(self, site: Site) -> Resolved:
        chain: list[Site] = []
        parent = site.parent
        while parent in self.sites and len(chain) < len(self.levels):
            chain.append(self.sites[parent])
            parent = self.sites[parent].parent
        layers = self.base.over(f"level {site.level}", self.levels[site.level].defaults)
        for ancestor in reversed(chain):
            layers = layers.over(f"site {ancestor.name}", self.spec.sites[self.site_pos[ancestor.name]].vars)
        return layers.over(f"site {site.name}", self.spec.sites[self.site_pos[site.name]].vars)

    # --- agencies --------------------------------------------------------------------------------

    def _agencies(self) -> dict[str, Agency]:
        """The agencies that passed the schema (None: failed it, reported there), each checked where it is."""
        domain = self.spec.province.domain
        reserved = reserved_hosts(domain)
        agencies: dict[str, Agency] = {}
        seen: dict[tuple[str, str], int] = {}   # (what, value) -> first agency's position
        line = self.problems.source.line
        for i, spec in enumerate(self.spec.agencies):
            if spec is None:
                continue
            portal = spec.portal or f"{spec.short}.{domain}"
            found = rules.agency_problems(i, spec, portal, self.sites, self.broken, reserved, seen, line)
            if self.report(*found) or spec.site not in self.sites:
                continue
            agencies[spec.code] = Agency(code=spec.code, name=spec.name, short=spec.short,
                                         level=self.sites[spec.site].level, site=spec.site, portal=portal,
                                         mail_domain=spec.mail_domain or domain, confirmed=spec.confirmed)
        return agencies

    # --- hosts and routers -----------------------------------------------------------------------

    def _nodes(self) -> None:
        line = self.problems.source.line
        for name, i in self.site_pos.items():
            site = self.sites.get(name)
            if site is None:
                continue
            spec = self.spec.sites[i]
            groups: list[tuple[str, list[Any]]] = [("hosts", spec.hosts), ("routers", spec.routers)]
            for kind, items in groups:
                slots: dict[int, str] = {}
                for j, item in enumerate(items):
                    field = ("sites", i, kind, j)
                    if self.report(rules.node_twice(field, item.name, self.node_field, line)):
                        continue
                    self.report(rules.slot_problem(field, item.slot, item.name, slots.setdefault(item.slot, item.name)))
                    self.node_field[item.name] = field
                    if kind == "hosts":
                        self._host(site, field, item)
                    else:
                        self._router(site, field, item)

    def _mgmt(self, site: Site, field: FieldPath, slot: int, offset: int) -> IPv4Address:
        mgmt = site.subnets.get("mgmt")
        ip = None if mgmt is None else address(mgmt, offset + slot)
        if ip is None:
            self.problems.add((*field, "slot"), f"slot {slot} does not fit in site {site.name}'s mgmt subnet {mgmt}")
            return IPv4Address(0)
        return ip

    def _host(self, site: Site, field: FieldPath, spec: Any) -> None:
        self.report(*rules.role_problems(field, spec.roles))
        self.network_vars((*field, "vars"), spec.vars)
        server = site.subnets.get("server")
        server_ip = None if server is None else address(server, HOST_OFFSET + spec.slot)
        resources = {f"host__{key}": getattr(spec, key) for key in ("cpu", "memory_gb", "disk_gb")
                     if getattr(spec, key) is not None}
        host = Host(name=spec.name, site=site.name, slot=spec.slot, roles=[canonical_role(r) for r in spec.roles],
                    mgmt_ip=self._mgmt(site, field, spec.slot, HOST_OFFSET), server_ip=server_ip,
                    layers=site.layers.over(f"host {spec.name}", {**spec.vars, **resources}))
        self.hosts[host.name] = host
        site.hosts.append(host.name)

    def _router(self, site: Site, field: FieldPath, spec: Any) -> None:
        level = self.levels[site.level]
        own = {f"router__{key}": getattr(spec, key) for key in ("platform", "model") if getattr(spec, key)}
        layers = site.layers.over(f"router {spec.name}", {**spec.vars, **own})
        self.network_vars((*field, "vars"), spec.vars)
        if not self.report(rules.platform_problem(field, layers)):
            self.report(*rules.network_var_problems(field, layers))
        self.report(rules.router_slot_problem(field, spec.slot, level))
        # None only when the index or slot is out of range, which is reported above
        loopback = self.plan.loopback(site.level, site.index, spec.slot) or IPv4Address(0)
        router = Router(name=spec.name, site=site.name, slot=spec.slot, uplinks=list(spec.uplinks),
                        loopback=loopback, mgmt_ip=self._mgmt(site, field, spec.slot, ROUTER_OFFSET), layers=layers)
        model = netvars.router_model(layers.values)
        generic = layers.values.get("network__mgmt_interfaces")
        generic = generic.get(router.platform) if isinstance(generic, dict) else None
        generic = generic if isinstance(generic, dict) else {}   # else reported by the network variables' check
        mgmt = model.mgmt.model_dump() if model is not None else generic
        router.mgmt_interface, router.mgmt_vrf = str(mgmt.get("interface") or "?"), mgmt.get("vrf")
        for n, purpose in enumerate(p for p in LAN_PURPOSES if p in site.subnets):
            ip = interface(site.subnets[purpose], ROUTER_OFFSET + spec.slot)
            if ip is None:
                self.problems.add((*field, "slot"), f"slot {spec.slot} does not fit in the {purpose} subnet "
                                  f"{site.subnets[purpose]}")
                continue
            if model is not None and model.lan_ports is not None:
                if n >= len(model.lan_ports):
                    self.problems.add(field, f"router {spec.name} (model {router.model}) needs a port on its site's "
                                      f"{purpose} LAN, but the model has {len(model.lan_ports)} LAN ports "
                                      "(network__models)")
                    continue
                name = model.lan_ports[n]
            else:
                name = self._ifname(field, "network__lan_interface_names", router, purpose=purpose, n=n)
            router.lan_interfaces[purpose] = LanInterface(name=name, purpose=purpose, ip=ip)
        self.routers[router.name] = router
        site.routers.append(router.name)

    def _ifname(self, field: FieldPath, kind: str, router: Router, **values: Any) -> str:
        templates = router.vars.get(kind)
        template = templates.get(router.platform) if isinstance(templates, dict) else None
        if not isinstance(template, str):
            self.problems.add(field, f"no {kind} template for platform {router.platform} "
                              "(inventory/defaults/network.yml)")
            return "?"
        problem = rules.template_problem(template, values)
        if problem is None:
            return template.format(**values)
        key = f"{kind}.{router.platform}"
        where = router.layers.origin(key) or "no layer"
        if (where, key) not in self.bad_templates:  # one problem per template, not per router using it
            self.bad_templates.add((where, key))
            self.problems.add(self._origin_field(where, field, kind, router.platform), f"{problem} (from {where})")
        return "?"

    def _origin_field(self, origin: str, field: FieldPath, *key: str) -> FieldPath:
        """The field of the file that set ``key`` in layer ``origin`` (a defaults file: ``field``)."""
        kind, _, name = origin.partition(" ")
        if kind == "province":
            return ("defaults", *key)
        if kind == "level":
            return ("levels", next(lvl.depth for lvl in self.levels.values() if lvl.name == name), "defaults", *key)
        if kind == "site" and name in self.site_pos:
            return ("sites", self.site_pos[name], "vars", *key)
        if kind in ("router", "host") and name in self.node_field:
            return (*self.node_field[name], "vars", *key)
        return field

    # --- WAN links -------------------------------------------------------------------------------

    def _links(self) -> None:
        pending: list[tuple[Router, int, Router, IPv4Network, int]] = []
        for child in self.routers.values():
            site = self.sites[child.site]
            level = self.levels[site.level]
            field = self.node_field[child.name]
            if site.depth > 0 and site.parent not in self.sites:
                continue  # the parent is missing or broken, which is reported where it is named
            self.report(rules.uplink_count_problem(field, child.uplinks, level))
            for u, peer in enumerate(child.uplinks[:level.max_uplinks]):
                if peer in self.broken and peer not in self.routers:
                    continue
                where = (*field, "uplinks", u)
                problem = rules.uplink_problem(site, peer, child.uplinks[:u], self.sites, self.routers, self.hosts)
                if problem:
                    self.problems.add(where, problem)
                    continue
                parent = self.routers[peer]
                subnet = self.plan.link(site.level, site.index, child.slot, u)
                if subnet is None:
                    continue  # index or slot out of range: reported where it is
                pending.append((child, u, parent, subnet, self._parent_port(parent, site, child)))
        # each router's plan port numbers, then its model's names for them
        uplinks: dict[str, list[int]] = {}
        children: dict[str, list[int]] = {}
        for child, u, parent, _, port in pending:
            uplinks.setdefault(child.name, []).append(u)
            children.setdefault(parent.name, []).append(port)
        names = {name: self._port_names(router, uplinks.get(name, []), children.get(name, []))
                 for name, router in self.routers.items()}
        for child, u, parent, subnet, port in pending:
            first = int(subnet.network_address)
            b_port, a_port = names[parent.name][port], names[child.name][u]
            b = Endpoint(parent.name, port, b_port.name, IPv4Interface((first, 31)))
            a = Endpoint(child.name, u, a_port.name, IPv4Interface((first + 1, 31)))
            link = Link(f"{a.router}:{a.ifname}--{b.router}:{b.ifname}", subnet, a, b)
            self.links.append(link)
            child.interfaces.append(Interface(a.ifname, a.port, a.ip, parent.name, link, a_port.vlan, a_port.trunk))
            parent.interfaces.append(Interface(b.ifname, b.port, b.ip, child.name, link, b_port.vlan, b_port.trunk))
        for router in self.routers.values():
            router.interfaces.sort(key=lambda i: i.port)

    def _port_names(self, router: Router, uplinks: list[int], children: list[int]) -> dict[int, PortName]:
        """The names of a router's WAN ports by plan number: its model's ports (uplinks first, then the
        children's links in plan order, or dot1q sub-interfaces of its trunk, VLAN 100 + plan number), or
        the platform's generic names for a router of no model (or a model of unlimited ports)."""
        field = self.node_field[router.name]
        model = netvars.router_model(router.vars)
        if model is None or model.wan_ports is None:
            return {port: PortName(self._ifname(field, "network__interface_names", router, port=port))
                    for port in [*uplinks, *children]}
        names = {u: PortName(model.wan_ports[u]) for u in uplinks if u < len(model.wan_ports)}
        if model.trunk:
            names.update({port: PortName(f"{model.trunk}.{VLAN_BASE + port}", VLAN_BASE + port, model.trunk)
                          for port in children if VLAN_BASE + port <= VLAN_MAX})
            if any(VLAN_BASE + port > VLAN_MAX for port in children):
                self.problems.add(field, f"router {router.name}: a child link's VLAN ({VLAN_BASE} + its plan port "
                                  f"number, up to {VLAN_BASE + max(children)}) exceeds {VLAN_MAX}: fewer sites "
                                  "per level (max_sites) or routers per site")
            spare = 0
        else:
            free = model.wan_ports[len(uplinks):]
            names.update({port: PortName(name) for port, name in zip(sorted(children), free, strict=False)})
            spare = len(children)
        needed = len(uplinks) + spare
        if needed > len(model.wan_ports) or len(names) < len(uplinks) + len(children):
            self.problems.add(field, (f"router {router.name} (model {router.model}) has links that need {needed} "
                                      f"WAN ports, but the model has {len(model.wan_ports)}"
                                      + ("" if model.trunk else " and no trunk for sub-interfaces")
                                      + f" (network__models, from {router.layers.origin('network__models') or '?'})"))
            names.update({port: PortName("?") for port in [*uplinks, *children] if port not in names})
        return names

    def _parent_port(self, parent: Router, child_site: Site, child: Router) -> int:
        """The parent's port for a child router, from stable keys: the parent's own uplink ports come first,
        then (on a top-level router) one port per top-level peer slot, then one per child slot."""
        plevel = self.levels[self.sites[parent.site].level]
        clevel = self.levels[child_site.level]
        base = plevel.max_uplinks
        if clevel.depth > plevel.depth and plevel.depth == 0:
            base += plevel.max_sites * plevel.max_routers
        return base + child_site.index * clevel.max_routers + child.slot
