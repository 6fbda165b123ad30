"""Semantic validation at `validate`: every variable has a type and range (inventory/schema.py VARIABLES, one
entry per documented default), checked where the file sets it; subnets in their own pool; no reserved
supernet; one meaning per name for --limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter

from egov.errors import InventoryError
from inventory import load_inventory
from inventory.loader import builtin_defaults
from inventory.schema import CHECKED_ELSEWHERE, VARIABLES

SMALL = Path(__file__).parents[1] / "fixtures" / "inventory" / "small.yml"
TEXT = SMALL.read_text(encoding="utf-8")
DOCUMENTED = {key: value for _, values in builtin_defaults() for key, value in values.items()}


def problems(text: str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load_inventory(SMALL, text=text)
    return info.value.problems


def variant(old: str, new: str) -> str:
    assert TEXT.count(old) == 1, old
    return TEXT.replace(old, new)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_every_documented_variable_has_a_type_and_every_type_a_default() -> None:
    untyped = sorted(key for key in DOCUMENTED if not key.startswith(CHECKED_ELSEWHERE) and key not in VARIABLES)
    assert not untyped, f"documented in inventory/defaults/, no type in inventory/schema.py VARIABLES: {untyped}"
    undocumented = sorted(set(VARIABLES) - set(DOCUMENTED))
    assert not undocumented, f"typed, but no default documents them: {undocumented}"


@pytest.mark.parametrize("key", sorted(VARIABLES))
def test_every_default_has_its_own_type(key: str) -> None:
    TypeAdapter(VARIABLES[key]).validate_python(DOCUMENTED[key])


# (where the bad value goes: a line of the fixture and what replaces it, the field reported, words of the message)
SET_IN_PROVINCE = "defaults:\n  network__ospf_hello: 2\n"
CASES = [
    ("ssh allow from empty", "  base__ssh_allow_from: []", "defaults.base__ssh_allow_from", "at least 1 item"),
    ("ssh allow from not a network", "  base__ssh_allow_from: [10.0.0.0/33]", "defaults.base__ssh_allow_from[0]",
     "IPv4 network"),
    ("vrid out of range", "  lb__vrid: 300", "defaults.lb__vrid", "less than or equal to 255"),
    ("cpu as a string", "  host__cpu: '4'", "defaults.host__cpu", "valid integer"),
    ("cpu as a boolean", "  host__cpu: true", "defaults.host__cpu", "valid integer"),
    ("admin not a unix name", "  base__admin_users: [{name: Bad Name}]", "defaults.base__admin_users[Bad Name].name",
     "pattern"),
    ("forwarder not an address", "  dns__forwarders: [dns.google]", "defaults.dns__forwarders[0]", "IPv4 address"),
    ("firewall rule that ends the rule", "  base__firewall_open: ['tcp/22; drop']", "defaults.base__firewall_open[0]",
     "pattern"),
    ("banner of two lines", "  base__login_banner: \"a\\nb\"", "defaults.base__login_banner", "pattern"),
    ("retention zero", "  log__retention_days: 0", "defaults.log__retention_days", "greater than or equal to 1"),
    ("unknown variable", "  base__timezon: UTC", "defaults.base__timezon", "unknown variable"),
]


@pytest.mark.parametrize("line, label, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_variable_is_reported_where_it_is_set(line: str, label: str, words: str) -> None:
    text = variant(SET_IN_PROVINCE, f"{SET_IN_PROVINCE}{line}\n")
    found = problems(text)
    prefix = f"{SMALL}:{line_of(text, line.strip()[:12])}: {label}: "
    assert len(found) == 1 and found[0].startswith(prefix) and words in found[0], (prefix, found)


def test_a_bad_variable_of_a_host_names_the_host() -> None:
    text = variant("          network__ospf_hello: 5", "          network__ospf_hello: 5\n          lb__vrid: 0")
    assert problems(text) == [f"{SMALL}:{line_of(text, 'lb__vrid')}: sites[dc].hosts[db2].vars.lb__vrid: "
                              "Input should be greater than or equal to 1 (got 0)"]


@pytest.mark.parametrize("supernet", ["0.0.0.0/0", "224.0.0.0/4", "127.0.0.0/8", "169.254.0.0/16"])
def test_a_reserved_supernet_is_refused(supernet: str) -> None:
    found = problems(variant("  supernet: 10.99.0.0/16", f"  supernet: {supernet}"))
    assert any(p.startswith(f"{SMALL}:11: plan.supernet: ") and "reserved range" in p for p in found), found


def test_a_subnet_override_outside_its_own_pool_is_refused() -> None:
    inv = load_inventory(SMALL)
    server_pool = inv.plan.pools["server"]
    other = next(net for net in server_pool.subnets(new_prefix=26) if not any(
        net.overlaps(s.subnets.get("server", net.supernet(0))) for s in inv.sites.values() if "server" in s.subnets))
    text = variant("    parent: tien-yen\n    routers:",
                   f"    parent: tien-yen\n    subnets: {{user: {other}}}\n    routers:")
    found = problems(text)
    assert found == [f"{SMALL}:{line_of(text, 'subnets: {user')}: sites[ty-dong-ngu].subnets.user: {other} is "
                     f"outside the user pool {inv.plan.pools['user']}"], found


@pytest.mark.parametrize("old, new, label, meaning", [
    ("{name: ty-node1, slot: 0", "{name: dns, slot: 0", "sites[tien-yen].hosts[dns].name", "role"),
    ("{name: ty-node1, slot: 0", "{name: ty-dong-ngu, slot: 0", "sites[tien-yen].hosts[ty-dong-ngu].name", "site"),
    ("{name: ty-r1, slot: 0", "{name: commune, slot: 0", "sites[tien-yen].routers[commune].name", "level"),
])
def test_a_name_has_one_meaning_for_limit(old: str, new: str, label: str, meaning: str) -> None:
    text = variant(old, new).replace("uplinks: [ty-r1]", "uplinks: [commune]") if "commune," in new else variant(
        old, new)
    found = problems(text)
    name = label.rsplit("[", 1)[1].split("]")[0]
    assert any(p.startswith(f"{SMALL}:{line_of(text, new)}: {label}: ") and f"is also a {meaning}" in p
               and f"--limit {name} would be ambiguous" in p for p in found), found
