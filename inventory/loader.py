"""Load an inventory file: parse with line numbers, check the schema, build the model, check its meaning.

Two stages, each reporting every problem it finds: the schema (types, required and unknown keys)
and then the meaning (names, parents, platforms, roles, uplinks, addresses, the Tier 3 rule).
The second stage needs a file that passed the first.
"""

from __future__ import annotations

import functools
import typing
from collections import Counter
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_network
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from egov.errors import InventoryError
from inventory.layers import Resolved, plain
from inventory.model import Endpoint, Host, Interface, Inventory, LanInterface, Level, Link, Province, Router, Site
from inventory.ipplan import HOST_OFFSET, ROUTER_OFFSET, IPPlan, address, interface, layout
from inventory.schema import CRITICAL_ROLES, PLATFORMS, ROLES, InventorySpec, SiteSpec
from inventory.source import FieldPath, Problems, Source, load_source, read_yaml

DEFAULTS_DIR = Path(__file__).parent / "defaults"
LAN_PURPOSES = ("server", "user")


def load_inventory(path: str | Path, text: str | None = None) -> Inventory:
    """Load and validate ``path`` (``text``, when given, is used instead of the file's content).

    Raises InventoryError with one ``FILE:LINE: field: problem`` line per problem.
    """
    path = Path(path)
    source = load_source(path, text)
    problems = Problems(source)
    if not isinstance(source.data, dict):
        problems.add((), "the inventory must be a mapping (environment, province, plan, levels, defaults, sites)")
        problems.raise_if_any()
    spec = _validate(InventorySpec, source.data, (), problems)
    raw_sites = source.data.get("sites")
    sites = [_validate(SiteSpec, raw, ("sites", i), problems) for i, raw in enumerate(raw_sites)] \
        if isinstance(raw_sites, list) else []
    if spec is None:
        problems.raise_if_any()
    assert spec is not None
    # sites that failed the schema are left out of the second stage, and so are problems that would
    # only repeat theirs (a reference to a broken site is not reported as dangling)
    broken = _names_in([raw for raw, site in zip(raw_sites, sites) if site is None])
    spec = spec.model_copy(update={"sites": sites})
    inventory = _Builder(path, spec, problems, broken).build()
    problems.raise_if_any()
    return inventory


def _validate(model: Any, data: Any, where: tuple[Any, ...], problems: Problems) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = _loc(error["loc"])
            problems.add((*where, *loc), _schema_message(model, error))
        return None


def _names_in(raw_sites: list[Any]) -> set[str]:
    """Names of the broken sites and of their hosts and routers, as far as they can be read."""
    names: set[str] = set()
    for raw in raw_sites:
        if not isinstance(raw, dict):
            continue
        names.add(str(raw.get("name")))
        for key in ("hosts", "routers"):
            items = raw.get(key)
            if isinstance(items, list):
                names.update(str(item.get("name")) for item in items if isinstance(item, dict))
    return names


def _loc(loc: tuple[Any, ...]) -> FieldPath:
    # pydantic marks a bad mapping key with a trailing '[key]'
    return [part for part in loc if part != "[key]"]


def _allowed_keys(model: Any, loc: FieldPath) -> list[str]:
    """The keys the section holding ``loc``'s last part takes, found by walking the schema along ``loc``."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = typing.get_args(annotation)
        model = args[0] if args else annotation  # list[SiteSpec] -> SiteSpec
    return list(getattr(model, "model_fields", {}))


def _schema_message(model: Any, error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required, but missing"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, _loc(error["loc"]))
        return "unknown key" + (f" (this section takes: {', '.join(allowed)})" if allowed else "")
    value = error.get("input")
    shown = f" (got {value!r})" if isinstance(value, (str, int, float, bool)) or value is None else ""
    return f"{error['msg']}{shown}"


@functools.cache
def builtin_defaults() -> tuple[tuple[str, dict[str, Any]], ...]:
    """The documented defaults files, lowest first, as (layer label, values)."""
    layers = []
    problems: list[str] = []
    for file in sorted(DEFAULTS_DIR.glob("*.yml")):
        source = Source(file, read_yaml(file))
        data = source.data or {}
        if not isinstance(data, dict):
            problems.append(source.problem((), "a defaults file must be a mapping of variables"))
            continue
        problems.extend(source.problem((key,), "defaults are namespaced: name it <concern>__<name>")
                        for key in data if "__" not in str(key))
        layers.append((f"defaults inventory/defaults/{file.name}", plain(data)))
    if problems:
        raise InventoryError(problems)
    return tuple(layers)


class _Builder:
    """Builds the model from a schema-valid spec, adding a problem wherever the meaning is wrong."""

    def __init__(self, path: Path, spec: InventorySpec, problems: Problems, broken: set[str]) -> None:
        self.path = path
        self.broken = broken   # names in sites that failed the schema: not checked again, not "missing"
        self.spec = spec
        self.problems = problems
        self.add = problems.add
        self.levels: dict[str, Level] = {}
        self.level_pos: dict[str, int] = {}
        self.site_pos: dict[str, int] = {}
        self.sites: dict[str, Site] = {}
        self.hosts: dict[str, Host] = {}
        self.routers: dict[str, Router] = {}
        self.links: list[Link] = []
        self.node_field: dict[str, FieldPath] = {}   # host/router name -> its field, for messages

    def build(self) -> Inventory:
        spec = self.spec
        self._levels()
        self.plan = plan = self._plan()
        base = Resolved()
        for label, values in builtin_defaults():
            base = base.over(label, values)
        self.base = base.over("province", spec.defaults)
        self._sites(plan)
        self._nodes(plan)
        self._links()
        self._tier3()
        self._overlaps(plan)
        plan.sites = list(self.sites.values())
        return Inventory(
            path=self.path, environment=spec.environment,
            province=Province(spec.province.name, spec.province.code, spec.province.domain),
            levels=list(self.levels.values()), sites=self.sites, hosts=self.hosts, routers=self.routers,
            links=self.links, plan=plan, noc_networks=self._noc_networks(plan),
        )

    # --- levels and plan -------------------------------------------------------------------------

    def _levels(self) -> None:
        for i, lvl in enumerate(self.spec.levels):
            if lvl.name in self.levels:
                self.add(("levels", i, "name"), f"level {lvl.name!r} is defined twice")
                continue
            if "mgmt" not in lvl.subnets:
                self.add(("levels", i, "subnets"), "every level needs a mgmt subnet (every node has a mgmt address)")
            for purpose, prefix in lvl.subnets.items():
                if not 16 <= prefix <= 30:
                    self.add(("levels", i, "subnets", purpose), f"prefix /{prefix} is not between /16 and /30")
            self.level_pos[lvl.name] = i
            self.levels[lvl.name] = Level(lvl.name, len(self.levels), lvl.max_sites, lvl.max_routers,
                                          lvl.max_uplinks, {p: min(max(n, 16), 30) for p, n in lvl.subnets.items()},
                                          plain(lvl.defaults))

    def _plan(self) -> IPPlan:
        pspec = self.spec.plan
        plan = layout(pspec.supernet, list(self.levels.values()), pspec.control_ip)
        if plan.needed > pspec.supernet.num_addresses:
            self.add(("plan", "supernet"),
                     f"the levels' sizes need {plan.needed} addresses but {pspec.supernet} has "
                     f"{pspec.supernet.num_addresses}: use a larger supernet or smaller max_sites / prefixes")
        mgmt = plan.pools.get("mgmt")
        if pspec.control_ip is not None and (mgmt is None or pspec.control_ip not in mgmt):
            self.add(("plan", "control_ip"), f"{pspec.control_ip} is outside the mgmt pool {mgmt}")
        return plan

    # --- sites -----------------------------------------------------------------------------------

    def _sites(self, plan: IPPlan) -> None:
        specs = self.spec.sites
        for i, site in enumerate(specs):
            if site is None:
                continue
            if site.name in self.site_pos:
                self.add(("sites", i, "name"), f"site {site.name!r} is defined twice (first on line "
                         f"{self.problems.source.line(('sites', self.site_pos[site.name]))})")
                continue
            self.site_pos[site.name] = i
        taken: dict[tuple[str, int], str] = {}
        for name, i in self.site_pos.items():
            site = specs[i]
            level = self.levels.get(site.level)
            if level is None:
                self.add(("sites", i, "level"), f"unknown level {site.level!r} (levels: {', '.join(self.levels)})")
                continue
            self._check_parent(i, site, level)
            other = taken.setdefault((site.level, site.index), name)
            if other != name:
                self.add(("sites", i, "index"), f"index {site.index} is already used by site {other!r} "
                         f"at level {site.level} (indexes are unique within a level)")
            elif site.index >= level.max_sites:
                self.add(("sites", i, "index"), f"index {site.index} is outside level {level.name}'s block: it "
                         f"holds {level.max_sites} sites (levels[{level.name}].max_sites)")
            subnets: dict[str, IPv4Network] = {}
            for purpose in level.subnets:
                net = site.subnets.get(purpose) or plan.unit(level.name, purpose, site.index)  # type: ignore[call-overload]
                if net is not None:
                    subnets[purpose] = net
            for purpose, net in site.subnets.items():
                if purpose not in level.subnets:
                    self.add(("sites", i, "subnets", purpose), f"level {level.name} has no {purpose} subnets")
                elif not net.subnet_of(plan.supernet):
                    self.add(("sites", i, "subnets", purpose), f"{net} is outside the supernet {plan.supernet}")
            self.sites[name] = Site(
                name=name, title=site.title or name, code=site.code, level=site.level, kind=site.kind,
                parent=site.parent, index=site.index, depth=level.depth, subnets=subnets,
                overrides=frozenset(site.subnets),
            )
        for built in self.sites.values():
            if built.parent in self.sites:
                self.sites[built.parent].children.append(built.name)
        for built in self.sites.values():
            built.layers = self._site_layers(built)

    def _check_parent(self, i: int, site: SiteSpec, level: Level) -> None:
        if level.depth == 0:
            if site.parent is not None:
                self.add(("sites", i, "parent"), f"a {level.name}-level site is at the top and has no parent")
            return
        above = next(lvl for lvl in self.levels.values() if lvl.depth == level.depth - 1)
        if site.parent is None:
            self.add(("sites", i), f"a {level.name}-level site needs a parent at level {above.name}")
        elif site.parent in self.broken:
            return
        elif site.parent not in self.site_pos:
            self.add(("sites", i, "parent"), f"no site is named {site.parent!r}")
        elif (parent_level := self.spec.sites[self.site_pos[site.parent]].level) != above.name:
            self.add(("sites", i, "parent"), f"parent {site.parent!r} is at level {parent_level}, but a "
                     f"{level.name}-level site's parent must be at level {above.name}")

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

    # --- hosts and routers -----------------------------------------------------------------------

    def _nodes(self, plan: IPPlan) -> None:
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
                    if item.name in self.node_field:
                        self.add((*field, "name"), f"{item.name!r} is already a host or router (line "
                                 f"{self.problems.source.line(self.node_field[item.name])})")
                        continue
                    if slots.setdefault(item.slot, item.name) != item.name:
                        self.add((*field, "slot"), f"slot {item.slot} is already used by {slots[item.slot]!r}")
                    self.node_field[item.name] = field
                    if kind == "hosts":
                        self._host(site, field, item)
                    else:
                        self._router(site, field, item)

    def _mgmt(self, site: Site, field: FieldPath, slot: int, offset: int) -> IPv4Address:
        mgmt = site.subnets.get("mgmt")
        ip = None if mgmt is None else address(mgmt, offset + slot)
        if ip is None:
            self.add((*field, "slot"), f"slot {slot} does not fit in site {site.name}'s mgmt subnet {mgmt}")
            return IPv4Address(0)
        return ip

    def _host(self, site: Site, field: FieldPath, spec: Any) -> None:
        for k, role in enumerate(spec.roles):
            if role not in ROLES:
                self.add((*field, "roles", k), f"unknown role {role!r} (known: {', '.join(ROLES)})")
        server = site.subnets.get("server")
        server_ip = None if server is None else address(server, HOST_OFFSET + spec.slot)
        resources = {f"host__{key}": getattr(spec, key) for key in ("cpu", "memory_gb", "disk_gb")
                     if getattr(spec, key) is not None}
        host = Host(name=spec.name, site=site.name, slot=spec.slot, roles=list(spec.roles),
                    mgmt_ip=self._mgmt(site, field, spec.slot, HOST_OFFSET), server_ip=server_ip,
                    layers=site.layers.over(f"host {spec.name}", {**spec.vars, **resources}))
        self.hosts[host.name] = host
        site.hosts.append(host.name)

    def _router(self, site: Site, field: FieldPath, spec: Any) -> None:
        level = self.levels[site.level]
        own = {f"router__{key}": getattr(spec, key) for key in ("platform", "model") if getattr(spec, key)}
        layers = site.layers.over(f"router {spec.name}", {**spec.vars, **own})
        platform = layers.values.get("router__platform")
        if platform not in PLATFORMS:
            where = layers.origin("router__platform") or "no layer"
            self.add((*field, "platform"), f"platform {platform!r} (from {where}) is not one of {', '.join(PLATFORMS)}")
        if spec.slot >= level.max_routers:
            self.add((*field, "slot"), f"slot {spec.slot} is outside the level's {level.max_routers} router slots "
                     f"(levels[{level.name}].max_routers)")
        # None only when the index or slot is out of range, which is reported above
        loopback = self.plan.loopback(site.level, site.index, spec.slot) or IPv4Address(0)
        router = Router(name=spec.name, site=site.name, slot=spec.slot, uplinks=list(spec.uplinks),
                        loopback=loopback, mgmt_ip=self._mgmt(site, field, spec.slot, ROUTER_OFFSET), layers=layers)
        for n, purpose in enumerate(p for p in LAN_PURPOSES if p in site.subnets):
            ip = interface(site.subnets[purpose], ROUTER_OFFSET + spec.slot)
            if ip is None:
                self.add((*field, "slot"), f"slot {spec.slot} does not fit in the {purpose} subnet "
                         f"{site.subnets[purpose]}")
                continue
            name = self._ifname(field, "network__lan_interface_names", router, purpose=purpose, n=n)
            router.lan_interfaces[purpose] = LanInterface(name=name, purpose=purpose, ip=ip)
        self.routers[router.name] = router
        site.routers.append(router.name)

    def _ifname(self, field: FieldPath, kind: str, router: Router, **values: Any) -> str:
        templates = router.vars.get(kind)
        template = templates.get(router.platform) if isinstance(templates, dict) else None
        if not isinstance(template, str):
            self.add(field, f"no {kind} template for platform {router.platform} (inventory/defaults/network.yml)")
            return "?"
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError) as exc:
            where = router.layers.origin(f"{kind}.{router.platform}") or "no layer"
            self.add(field, f"interface name template {template!r} for {router.platform} (from {where}) "
                     f"does not give a name: {exc!r}")
            return "?"

    # --- WAN links -------------------------------------------------------------------------------

    def _links(self) -> None:
        for child in self.routers.values():
            site = self.sites[child.site]
            level = self.levels[site.level]
            field = self.node_field[child.name]
            if site.depth > 0 and site.parent not in self.sites:
                continue  # the parent is missing or broken, which is reported where it is named
            if len(child.uplinks) > level.max_uplinks:
                self.add((*field, "uplinks"), f"{len(child.uplinks)} uplinks, but level {level.name} allows "
                         f"{level.max_uplinks} (levels[{level.name}].max_uplinks)")
            for u, peer in enumerate(child.uplinks[:level.max_uplinks]):
                if peer in self.broken and peer not in self.routers:
                    continue
                where = (*field, "uplinks", u)
                problem = self._uplink_problem(child, site, peer, child.uplinks[:u])
                if problem:
                    self.add(where, problem)
                    continue
                parent = self.routers[peer]
                subnet = self.plan.link(site.level, site.index, child.slot, u)
                if subnet is None:
                    continue  # index or slot out of range: reported where it is
                port = self._parent_port(parent, site, child)
                first = int(subnet.network_address)
                b = Endpoint(parent.name, port, self._ifname(self.node_field[parent.name], "network__interface_names",
                                                             parent, port=port),
                             IPv4Interface((first, 31)))
                a = Endpoint(child.name, u, self._ifname(where, "network__interface_names", child, port=u),
                             IPv4Interface((first + 1, 31)))
                link = Link(f"{a.router}:{a.ifname}--{b.router}:{b.ifname}", subnet, a, b)
                self.links.append(link)
                child.interfaces.append(Interface(a.ifname, a.port, a.ip, parent.name, link))
                parent.interfaces.append(Interface(b.ifname, b.port, b.ip, child.name, link))
        for router in self.routers.values():
            router.interfaces.sort(key=lambda i: i.port)

    def _uplink_problem(self, child: Router, site: Site, peer: str, earlier: list[str]) -> str | None:
        if peer in earlier:
            return f"{peer!r} is listed twice"
        parent = self.routers.get(peer)
        if parent is None:
            return f"no router is named {peer!r}" + (" (it is a host)" if peer in self.hosts else "")
        if site.depth > 0:
            if parent.site != site.parent:
                return f"{peer!r} is in site {parent.site!r}, but uplinks go to the parent site {site.parent!r}"
            return None
        # a top-level site (the PASC) hangs off the data centre's core routers
        parent_site = self.sites[parent.site]
        if parent_site.depth != 0 or parent_site.kind != "datacenter" or parent.site == site.name:
            return f"{peer!r} is not a core router: a top-level site's uplinks go to another top-level datacenter site"
        if parent.uplinks:
            return f"{peer!r} has uplinks of its own, so it is not a core router"
        return None

    def _parent_port(self, parent: Router, child_site: Site, child: Router) -> int:
        """The parent's port for a child router, from stable keys: the parent's own uplink ports come first,
        then (on a top-level router) one port per top-level peer slot, then one per child slot."""
        plevel = self.levels[self.sites[parent.site].level]
        clevel = self.levels[child_site.level]
        base = plevel.max_uplinks
        if clevel.depth > plevel.depth and plevel.depth == 0:
            base += plevel.max_sites * plevel.max_routers
        return base + child_site.index * clevel.max_routers + child.slot

    # --- rules over the whole inventory ----------------------------------------------------------

    def _tier3(self) -> None:
        centres = [s for s in self.sites.values() if s.kind == "datacenter"]
        if not centres or self.broken:  # a broken site's hosts cannot be counted
            return
        counts = Counter(role for s in centres for h in s.hosts for role in self.hosts[h].roles)
        for role in CRITICAL_ROLES:
            if counts[role] < 2:
                self.add(("sites", self.site_pos[centres[0].name], "hosts"),
                         f"Tier 3 (N+1): role {role} needs at least two hosts in the data centre, has {counts[role]}")

    def _overlaps(self, plan: IPPlan) -> None:
        """Computed addresses cannot overlap; explicit subnets can, so every allocation is checked."""
        spans: list[tuple[int, int, str, FieldPath, bool]] = []

        def span(net: IPv4Network, what: str, field: FieldPath, explicit: bool = False) -> None:
            spans.append((int(net.network_address), int(net.broadcast_address), what, field, explicit))

        for site in self.sites.values():
            i = self.site_pos[site.name]
            for purpose, net in site.subnets.items():
                explicit = purpose in site.overrides
                field = ("sites", i, "subnets", purpose) if explicit else ("sites", i, "index")
                span(net, f"site {site.name} {purpose} {net}", field, explicit)
        for router in self.routers.values():
            if int(router.loopback):
                span(IPv4Network(router.loopback), f"loopback of {router.name}", self.node_field[router.name])
        for link in self.links:
            span(link.subnet, f"link {link.name}", self.node_field[link.a.router])
        span(IPv4Network(plan.control_ip), f"control_ip {plan.control_ip}", ("plan", "control_ip"),
             self.spec.plan.control_ip is not None)
        spans.sort(key=lambda s: (s[0], -s[1]))
        widest: tuple[int, int, str, FieldPath, bool] | None = None
        for item in spans:
            if widest is not None and item[0] <= widest[1]:
                # blame the explicit one: computed addresses never overlap each other
                blamed, other = (widest, item) if widest[4] and not item[4] else (item, widest)
                self.add(blamed[3], f"{blamed[2]} overlaps {other[2]}")
            if widest is None or item[1] > widest[1]:
                widest = item

    def _noc_networks(self, plan: IPPlan) -> list[IPv4Network]:
        """Who may manage devices: the data centre's mgmt LAN, the bastion hosts, the control machine,
        and ``noc__extra_networks`` (province-wide)."""
        nets = [s.subnets["mgmt"] for s in self.sites.values() if s.kind == "datacenter" and "mgmt" in s.subnets]
        for host in self.hosts_with_role("bastion"):
            nets.extend(IPv4Network(ip) for ip in (host.mgmt_ip, host.server_ip) if ip is not None)
        nets.append(IPv4Network(plan.control_ip))
        extra = self.base.values.get("noc__extra_networks") or []
        for k, value in enumerate(extra if isinstance(extra, list) else [extra]):
            try:
                net = ip_network(str(value))
            except ValueError as exc:
                self.add(("defaults", "noc__extra_networks", k), str(exc))
                continue
            if isinstance(net, IPv4Network):
                nets.append(net)
        return list(dict.fromkeys(nets))

    def hosts_with_role(self, role: str) -> list[Host]:
        return [h for h in self.hosts.values() if role in h.roles]
