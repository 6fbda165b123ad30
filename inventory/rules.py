"""The inventory's meaning: the rules a file that passed the schema can still break.

Unique names, slots and indexes; parents one level up; levels and a plan that fit the supernet;
known roles and platforms; uplinks to the right routers; the Tier 3 (N+1) rule; no overlapping
addresses; who may manage devices (the NOC networks).

A rule returns its findings, each a field of the file and what is wrong there. The builder
(``inventory.builder``) applies each rule where it meets the item, so the problems of one line
keep the order in which the file reads.
"""

from __future__ import annotations

import functools
import string
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from ipaddress import IPv4Network, ip_network
from typing import Any

from pydantic import TypeAdapter, ValidationError

from inventory import netvars
from inventory.ipplan import IPPlan
from inventory.layers import Resolved
from inventory.model import Host, Level, Link, Router, Site
from inventory.schema import (
    CHECKED_BY_RULES,
    CHECKED_ELSEWHERE,
    PLATFORMS,
    VARIABLES,
    AgencySpec,
    LevelSpec,
    PlanSpec,
    SiteSpec,
)
from inventory.services import CRITICAL_ROLES, INVENTORY_ROLES, ROLE_ALIASES, canonical_role
from inventory.source import FieldPath

Finding = tuple[FieldPath, str]   # (field of the file, what is wrong there)

# --- levels and plan -----------------------------------------------------------------------------


def level_twice(i: int, lvl: LevelSpec, known: Collection[str]) -> Finding | None:
    if lvl.name in known:
        return ("levels", i, "name"), f"level {lvl.name!r} is defined twice"
    return None


def level_problems(i: int, lvl: LevelSpec) -> list[Finding]:
    found: list[Finding] = []
    if "mgmt" not in lvl.subnets:
        found.append((("levels", i, "subnets"), "every level needs a mgmt subnet (every node has a mgmt address)"))
    found.extend((("levels", i, "subnets", purpose), f"prefix /{prefix} is not between /16 and /30")
                 for purpose, prefix in lvl.subnets.items() if not 16 <= prefix <= 30)
    return found


# Ranges no site may be numbered from (RFC 6890): "this network", loopback, link-local, multicast, future
# use and broadcast. A supernet overlapping one (0.0.0.0/0 overlaps them all) is refused.
RESERVED = tuple(IPv4Network(net) for net in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4",
                                              "240.0.0.0/4"))


def plan_problems(spec: PlanSpec, plan: IPPlan) -> list[Finding]:
    found: list[Finding] = []
    reserved = [net for net in RESERVED if spec.supernet.overlaps(net)]
    if reserved:
        found.append((("plan", "supernet"), (f"{spec.supernet} overlaps the reserved range "
                                             f"{', '.join(map(str, reserved))} (RFC 6890): use private space "
                                             "such as 10.0.0.0/8")))
    if plan.needed > spec.supernet.num_addresses:
        found.append((("plan", "supernet"),
                      (f"the levels' sizes need {plan.needed} addresses but {spec.supernet} has "
                       f"{spec.supernet.num_addresses}: use a larger supernet or smaller max_sites / prefixes")))
    mgmt = plan.pools.get("mgmt")
    if spec.control_ip is not None and (mgmt is None or spec.control_ip not in mgmt):
        found.append((("plan", "control_ip"), f"{spec.control_ip} is outside the mgmt pool {mgmt}"))
    return found


# --- variables -----------------------------------------------------------------------------------


@functools.cache
def _adapter(key: str) -> TypeAdapter[Any]:
    return TypeAdapter(VARIABLES[key])


def variable_problems(field: FieldPath, layer: Mapping[str, Any], documented: Collection[str]) -> list[Finding]:
    """The variables one layer sets (``field``: where its mapping is): each a documented key
    (``documented``: the keys of the defaults files), of the type and range ``VARIABLES`` gives it."""
    found: list[Finding] = []
    for key, value in layer.items():
        if key not in documented:
            found.append(((*field, key), "unknown variable (every variable is documented in inventory/defaults/*.yml)"))
            continue
        if key.startswith(CHECKED_ELSEWHERE) or key in CHECKED_BY_RULES or key not in VARIABLES:
            continue
        try:
            _adapter(key).validate_python(value)
        except ValidationError as exc:
            error = exc.errors()[0]
            inner = _in_value(value, error["loc"])
            got = error.get("input")
            shown = f" (got {got!r})" if isinstance(got, (str, int, float, bool)) or got is None else ""
            found.append(((*field, key, *inner), f"{error['msg']}{shown}"))
    return found


def _in_value(value: Any, loc: Sequence[Any]) -> list[str | int]:
    """The parts of a pydantic error location that are keys or positions in ``value`` (it also names the
    branches of a union it tried, ``none``, ``constrained-str``...)."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        else:
            continue
        out.append(part)
    return out


# --- sites ---------------------------------------------------------------------------------------


def first_sites(specs: Sequence[SiteSpec | None], line: Callable[[FieldPath], int]) -> tuple[dict[str, int],
                                                                                           list[Finding]]:
    """Each site name's first definition (name -> position in ``sites``); a second one is a finding.
    Sites that failed the schema (None) are skipped."""
    first: dict[str, int] = {}
    found: list[Finding] = []
    for i, site in enumerate(specs):
        if site is None:
            continue
        if site.name in first:
            found.append((("sites", i, "name"), (f"site {site.name!r} is defined twice (first on line "
                                                 f"{line(('sites', first[site.name]))})")))
            continue
        first[site.name] = i
    return first, found


def unknown_level(i: int, site: SiteSpec, levels: Mapping[str, Level]) -> Finding | None:
    if site.level not in levels:
        return ("sites", i, "level"), f"unknown level {site.level!r} (levels: {', '.join(levels)})"
    return None


def parent_problem(i: int, site: SiteSpec, level: Level, levels: Mapping[str, Level],
                   site_levels: Mapping[str, str], broken: Collection[str]) -> Finding | None:
    """A top-level site has no parent; any other's parent is a site one level up. ``site_levels``: the
    level each site names; a parent in ``broken`` (failed the schema) is not reported again."""
    if level.depth == 0:
        if site.parent is not None:
            return ("sites", i, "parent"), f"a {level.name}-level site is at the top and has no parent"
        return None
    above = next(lvl for lvl in levels.values() if lvl.depth == level.depth - 1)
    if site.parent is None:
        return ("sites", i), f"a {level.name}-level site needs a parent at level {above.name}"
    if site.parent in broken:
        return None
    if site.parent not in site_levels:
        return ("sites", i, "parent"), f"no site is named {site.parent!r}"
    if (parent_level := site_levels[site.parent]) != above.name:
        return ("sites", i, "parent"), (f"parent {site.parent!r} is at level {parent_level}, but a "
                                        f"{level.name}-level site's parent must be at level {above.name}")
    return None


def index_problem(i: int, site: SiteSpec, level: Level, holder: str) -> Finding | None:
    """``holder``: the site that first took this index at this level."""
    if holder != site.name:
        return ("sites", i, "index"), (f"index {site.index} is already used by site {holder!r} "
                                       f"at level {site.level} (indexes are unique within a level)")
    if site.index >= level.max_sites:
        return ("sites", i, "index"), (f"index {site.index} is outside level {level.name}'s block: it "
                                       f"holds {level.max_sites} sites (levels[{level.name}].max_sites)")
    return None


def subnet_problems(i: int, site: SiteSpec, level: Level, plan: IPPlan) -> list[Finding]:
    """The site's explicit subnets: of a purpose its level has, inside the supernet and inside the pool
    of their own purpose (a user LAN numbered from the server pool would break every firewall rule
    and route written per pool)."""
    found: list[Finding] = []
    for purpose, net in site.subnets.items():
        pool = plan.pools.get(purpose)
        if purpose not in level.subnets:
            found.append((("sites", i, "subnets", purpose), f"level {level.name} has no {purpose} subnets"))
        elif not net.subnet_of(plan.supernet):
            found.append((("sites", i, "subnets", purpose), f"{net} is outside the supernet {plan.supernet}"))
        elif pool is not None and not net.subnet_of(pool):
            found.append((("sites", i, "subnets", purpose), f"{net} is outside the {purpose} pool {pool}"))
    return found


def name_clashes(levels: Collection[str], sites: Mapping[str, int], nodes: Mapping[str, FieldPath],
                 roles: Collection[str]) -> list[Finding]:
    """``--limit NAME`` means a site, a level, a role, a host or a router: one name, one meaning. A site
    or node named like a level or a role, or a node named like a site, is refused where it is named.
    (``sites``: name -> position; ``nodes``: host or router name -> its field.)"""
    found: list[Finding] = []
    for name, i in sites.items():
        meaning = "level" if name in levels else "role" if name in roles else None
        if meaning:
            found.append((("sites", i, "name"), f"{name!r} is also a {meaning}: --limit {name} would be ambiguous"))
    for name, field in nodes.items():
        meaning = ("site" if name in sites else "level" if name in levels else "role" if name in roles else None)
        if meaning:
            found.append(((*field, "name"), f"{name!r} is also a {meaning}: --limit {name} would be ambiguous"))
    return found


# --- hosts and routers ---------------------------------------------------------------------------


def node_twice(field: FieldPath, name: str, known: Mapping[str, FieldPath],
               line: Callable[[FieldPath], int]) -> Finding | None:
    """Host and router names share one namespace; ``known``: the field of each name seen so far."""
    if name in known:
        return (*field, "name"), f"{name!r} is already a host or router (line {line(known[name])})"
    return None


def slot_problem(field: FieldPath, slot: int, name: str, holder: str) -> Finding | None:
    """``holder``: the host (or router) that first took this slot in the site."""
    if holder != name:
        return (*field, "slot"), f"slot {slot} is already used by {holder!r}"
    return None


def role_problems(field: FieldPath, roles: Sequence[str]) -> list[Finding]:
    known = ", ".join([*INVENTORY_ROLES, *(f"{old} (alias of {new})" for old, new in ROLE_ALIASES.items())])
    return [((*field, "roles", k), f"unknown role {role!r} (known: {known})")
            for k, role in enumerate(roles) if canonical_role(role) not in INVENTORY_ROLES]


def platform_problem(field: FieldPath, layers: Resolved) -> Finding | None:
    platform = layers.values.get("router__platform")
    if platform not in PLATFORMS:
        where = layers.origin("router__platform") or "no layer"
        return (*field, "platform"), f"platform {platform!r} (from {where}) is not one of {', '.join(PLATFORMS)}"
    return None


def network_var_problems(field: FieldPath, layers: Resolved) -> list[Finding]:
    """A router's merged network variables against its platform's ranges and its model (each problem
    says which layer gave the value)."""
    platform = str(layers.values["router__platform"])
    return [(field, f"{key}: {problem} (from {layers.origin(key) or layers.origin(key.split('.')[0]) or 'no layer'})")
            for key, problem in netvars.router_problems(platform, layers.values)]


def router_slot_problem(field: FieldPath, slot: int, level: Level) -> Finding | None:
    if slot >= level.max_routers:
        return (*field, "slot"), (f"slot {slot} is outside the level's {level.max_routers} router slots "
                                  f"(levels[{level.name}].max_routers)")
    return None


def template_problem(template: str, names: Collection[str]) -> str | None:
    """An interface-name template is text with plain ``{name}`` fields of ``names``: no attribute or
    index (``{port.x}``), conversion (``{port!r}``) or format specifier (``{port:>300000000}`` asks for
    a name of 300 million characters)."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"template {template!r} is not a name template: {exc}"
    if all(name is None for _, name, _, _ in parts):
        return (f"template {template!r} has no field ({', '.join(f'{{{n}}}' for n in names)}): every port "
                "would get the same name")
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in names:
            return f"template {template!r}: {{{name}}} is not one of {', '.join(f'{{{n}}}' for n in names)}"
        if spec or conversion:
            return (f"template {template!r}: {{{name}}} takes no conversion or format specifier "
                    f"(write {{{name}}} alone)")
    return None


# --- WAN links -----------------------------------------------------------------------------------


def uplink_count_problem(field: FieldPath, uplinks: Sequence[str], level: Level) -> Finding | None:
    if len(uplinks) > level.max_uplinks:
        return (*field, "uplinks"), (f"{len(uplinks)} uplinks, but level {level.name} allows "
                                     f"{level.max_uplinks} (levels[{level.name}].max_uplinks)")
    return None


def uplink_problem(site: Site, peer: str, earlier: Sequence[str], sites: Mapping[str, Site],
                   routers: Mapping[str, Router], hosts: Mapping[str, Host]) -> str | None:
    """What is wrong with an uplink of a router of ``site`` to ``peer`` (``earlier``: its uplinks before it)."""
    if peer in earlier:
        return f"{peer!r} is listed twice"
    parent = routers.get(peer)
    if parent is None:
        return f"no router is named {peer!r}" + (" (it is a host)" if peer in hosts else "")
    if site.depth > 0:
        if parent.site != site.parent:
            return f"{peer!r} is in site {parent.site!r}, but uplinks go to the parent site {site.parent!r}"
        return None
    # a top-level site (the PASC) hangs off the data centre's core routers
    parent_site = sites[parent.site]
    if parent_site.depth != 0 or parent_site.kind != "datacenter" or parent.site == site.name:
        return f"{peer!r} is not a core router: a top-level site's uplinks go to another top-level datacenter site"
    if parent.uplinks:
        return f"{peer!r} has uplinks of its own, so it is not a core router"
    return None


# --- agencies ------------------------------------------------------------------------------------


def agency_problems(i: int, spec: AgencySpec, portal: str, sites: Mapping[str, Site], broken: Collection[str],
                    reserved: Mapping[str, str], seen: dict[tuple[str, str], int],
                    line: Callable[[FieldPath], int]) -> list[Finding]:
    """Agency ``i``: a unique code, short name and portal host name (``seen``: (field, value) -> the position
    of the first agency with it, updated here), a portal name no platform service holds (``reserved``: host
    name -> the service), and a site that exists (one in ``broken`` is reported where it is)."""
    found: list[Finding] = []
    for key, value in (("code", spec.code), ("short", spec.short), ("portal", portal)):
        first = seen.setdefault((key, value), i)
        if first != i and (key != "portal" or spec.portal):   # a derived portal repeats its short name's problem
            found.append((("agencies", i, key),
                          f"{key} {value!r} is already used by the agency on line {line(('agencies', first))}"))
    if portal in reserved:
        found.append((("agencies", i, "portal" if spec.portal else "short"),
                      f"portal {portal!r} is the platform's {reserved[portal]}: choose another short name"))
    if spec.site not in sites and spec.site not in broken:
        found.append((("agencies", i, "site"), f"no site is named {spec.site!r}"))
    return found


# --- the whole inventory -------------------------------------------------------------------------


def tier3(sites: Mapping[str, Site], hosts: Mapping[str, Host], site_pos: Mapping[str, int]) -> list[Finding]:
    """Tier 3 (N+1): every critical role on at least two hosts of the data centres; reported on the first one."""
    centres = [s for s in sites.values() if s.kind == "datacenter"]
    if not centres:
        return []
    counts = Counter(role for s in centres for h in s.hosts for role in hosts[h].roles)
    return [(("sites", site_pos[centres[0].name], "hosts"),
             f"Tier 3 (N+1): role {role} needs at least two hosts in the data centre, has {counts[role]}")
            for role in CRITICAL_ROLES if counts[role] < 2]


def overlaps(sites: Mapping[str, Site], routers: Mapping[str, Router], links: Sequence[Link], plan: IPPlan,
             site_pos: Mapping[str, int], node_field: Mapping[str, FieldPath],
             explicit_control_ip: bool) -> list[Finding]:
    """Computed addresses cannot overlap; explicit subnets (and an explicit control_ip) can, so every
    allocation is checked."""
    spans: list[tuple[int, int, str, FieldPath, bool]] = []

    def span(net: IPv4Network, what: str, field: FieldPath, explicit: bool = False) -> None:
        spans.append((int(net.network_address), int(net.broadcast_address), what, field, explicit))

    for site in sites.values():
        i = site_pos[site.name]
        for purpose, net in site.subnets.items():
            explicit = purpose in site.overrides
            field = ("sites", i, "subnets", purpose) if explicit else ("sites", i, "index")
            span(net, f"site {site.name} {purpose} {net}", field, explicit)
    for router in routers.values():
        if int(router.loopback):
            span(IPv4Network(router.loopback), f"loopback of {router.name}", node_field[router.name])
    for link in links:
        span(link.subnet, f"link {link.name}", node_field[link.a.router])
    span(IPv4Network(plan.control_ip), f"control_ip {plan.control_ip}", ("plan", "control_ip"), explicit_control_ip)
    spans.sort(key=lambda s: (s[0], -s[1]))
    found: list[Finding] = []
    widest: tuple[int, int, str, FieldPath, bool] | None = None
    for item in spans:
        if widest is not None and item[0] <= widest[1]:
            # blame the explicit one: computed addresses never overlap each other
            blamed, other = (widest, item) if widest[4] and not item[4] else (item, widest)
            found.append((blamed[3], f"{blamed[2]} overlaps {other[2]}"))
        if widest is None or item[1] > widest[1]:
            widest = item
    return found


def noc_networks(sites: Mapping[str, Site], hosts: Mapping[str, Host], plan: IPPlan,
                 extra: Any) -> tuple[list[IPv4Network], list[Finding]]:
    """Who may manage devices: the data centre's mgmt LAN, the bastion hosts, the control machine,
    and ``extra`` (the province-wide ``noc__extra_networks``); a value that is no network is a finding."""
    nets = [s.subnets["mgmt"] for s in sites.values() if s.kind == "datacenter" and "mgmt" in s.subnets]
    for host in hosts.values():
        if "bastion" in host.roles:
            nets.extend(IPv4Network(ip) for ip in (host.mgmt_ip, host.server_ip) if ip is not None)
    nets.append(IPv4Network(plan.control_ip))
    extra = extra or []   # unset or null: none
    found: list[Finding] = []
    for k, value in enumerate(extra if isinstance(extra, list) else [extra]):
        try:
            net = ip_network(str(value))
        except ValueError as exc:
            found.append((("defaults", "noc__extra_networks", k), str(exc)))
            continue
        if isinstance(net, IPv4Network):
            nets.append(net)
    return list(dict.fromkeys(nets)), found
