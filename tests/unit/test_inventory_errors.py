"""Each class of bad input gives one clear FILE:LINE: field: message, all of them at once, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import main
from egov.errors import InventoryError
from inventory import load_inventory

SMALL = Path(__file__).parents[1] / "fixtures" / "inventory" / "small.yml"
TEXT = SMALL.read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle`` (so expectations follow the fixture)."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def problems(text: str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load_inventory(SMALL, text=text)
    return info.value.problems


def variant(old: str, new: str, text: str = TEXT) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# (id, old text, new text, field label, words of the message). The expected line is the one marked "# <-"
# in the new text; where the problem sits on an existing line, the mark is added to that line.
CASES = [
    ("malformed yaml", "    title: Xã Đông Ngũ", "    title: Xã Đông Ngũ: x  # <-", "(yaml)", "mapping values"),
    ("duplicate key", "    index: 104", "    index: 104\n    index: 105  # <-", "(yaml)", "duplicate"),
    ("wrong type", "{name: db1, slot: 2, roles: [db]}", "{name: db1, slot: two, roles: [db]}  # <-",
     "sites[dc].hosts[db1].slot", "valid integer"),
    ("unknown key", "    kind: district_node", "    kind: district_node\n    colour: blue  # <-",
     "sites[tien-yen].colour", "unknown key"),
    ("missing field", "  - name: ty-dong-ngu\n    title: Xã Đông Ngũ\n    level: commune\n    kind: commune_point\n",
     "  - name: ty-dong-ngu  # <-\n    title: Xã Đông Ngũ\n    level: commune\n", "sites[ty-dong-ngu].kind",
     "missing"),
    ("dangling parent", "    parent: tien-yen", "    parent: tien-yen-x  # <-", "sites[ty-dong-ngu].parent",
     "no site is named 'tien-yen-x'"),
    ("parent not one level up", "    parent: tien-yen", "    parent: dc  # <-", "sites[ty-dong-ngu].parent",
     "must be at level district"),
    ("unknown platform", "platform: cisco_ios, uplinks: [core1, core2]}",
     "platform: cisco_nxos, uplinks: [core1, core2]}  # <-", "sites[tien-yen].routers[ty-r1].platform", "not one of"),
    ("unknown role", "roles: [district_node]}", "roles: [district_node, ftp]}  # <-",
     "sites[tien-yen].hosts[ty-node1].roles[1]", "unknown role 'ftp'"),
    ("duplicate name", "{name: db1, slot: 2, roles: [db]}", "{name: app1, slot: 2, roles: [db]}  # <-",
     "sites[dc].hosts[app1].name", "already a host or router"),
    ("index taken", "      - {name: ty-dong-ngu-r1, slot: 0, uplinks: [ty-r1]}\n",
     ("      - {name: ty-dong-ngu-r1, slot: 0, uplinks: [ty-r1]}\n  - name: ty-ha-lau\n    level: commune\n"
     "    kind: commune_point\n    index: 104  # <-\n    parent: tien-yen\n"),
     "sites[ty-ha-lau].index", "index 104 is already used by site 'ty-dong-ngu'"),
    ("index exhausted", "    index: 104", "    index: 300  # <-", "sites[ty-dong-ngu].index",
     "outside level commune's block"),
    ("uplink not in parent site", "uplinks: [ty-r1]}", "uplinks: [core1]}  # <-",
     "sites[ty-dong-ngu].routers[ty-dong-ngu-r1].uplinks[0]", "uplinks go to the parent site"),
    ("too many uplinks", "uplinks: [core1, core2]}", "uplinks: [core1, core2, core1]}  # <-",
     "sites[tien-yen].routers[ty-r1].uplinks", "allows 2"),
    ("overlap", "    parent: tien-yen\n    routers:",
     "    parent: tien-yen\n    subnets: {user: 10.99.70.0/26}  # <-\n    routers:", "sites[ty-dong-ngu].subnets.user",
     "overlaps site tien-yen user 10.99.70.0/24"),
    ("outside the supernet", "    parent: tien-yen\n    routers:",
     "    parent: tien-yen\n    subnets: {user: 10.98.0.0/26}  # <-\n    routers:", "sites[ty-dong-ngu].subnets.user",
     "outside the supernet"),
    ("tier 3 rule", "        roles: [db]\n", "        roles: [log]\n", "sites[dc].hosts",
     "role db needs at least two hosts in the data centre, has 1"),
    ("supernet too small", "  supernet: 10.99.0.0/16", "  supernet: 10.99.0.0/18  # <-", "plan.supernet",
     "need 48128 addresses"),
]


@pytest.mark.parametrize("old, new, label, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_file_line_and_field(old: str, new: str, label: str, words: str) -> None:
    text = variant(old, new)
    if "# <-" not in text:  # the problem is reported on the data centre's `hosts:` key
        text = variant("    hosts:\n      - {name: app1", "    hosts:  # <-\n      - {name: app1", text)
    found = problems(text)
    prefix = f"{SMALL}:{line_of(text, '# <-')}: {label}: "
    assert any(p.startswith(prefix) and words in p for p in found), (prefix, words, found)


def test_every_problem_is_reported_in_file_order() -> None:
    text = variant("uplinks: [core1, core2]", "uplinks: [core1, nowhere]",
                   variant("roles: [district_node]", "roles: [ftp]", variant("    parent: tien-yen", "    parent: x")))
    found = problems(text)
    assert len(found) == 3, found  # the commune's uplink is not checked against a parent that does not exist
    lines = [int(p.split(":")[1]) for p in found]
    assert lines == sorted(lines)
    assert "unknown role 'ftp'" in found[0] and "no router is named 'nowhere'" in found[1]
    assert "no site is named 'x'" in found[2]


def test_schema_problems_are_all_reported() -> None:
    text = variant("    kind: district_node", "    kind: district_node\n    colour: blue",
                   variant("{name: db1, slot: 2", "{name: db1, slot: -1"))
    found = problems(text)
    assert len(found) == 2 and "colour" in found[1] and "greater than or equal to 0" in found[0]


def test_cli_validate_exits_2_with_the_lines_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(variant("    parent: tien-yen", "    parent: nowhere"), encoding="utf-8")
    result = CliRunner().invoke(main, ["inventory", "validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:{line_of(bad.read_text(), 'parent: nowhere')}: sites[ty-dong-ngu].parent:" in result.output
    assert "Traceback" not in result.output


def test_cli_validate_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["inventory", "validate", str(tmp_path / "none.yml")])
    assert result.exit_code == 2 and "cannot read" in result.output and "Traceback" not in result.output


VALUES = ["", "x", "-1", "0", "99999", "[]", "{}", "[a, b]", "null", "true", "10.99.0.0/33", "'07'", "- z", ":"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(VALUES), st.booleans()), min_size=1, max_size=3))
def test_any_damage_gives_problems_never_a_crash(edits: list[tuple[int, str, bool]]) -> None:
    """Delete lines or replace their values at random: loading either succeeds or raises InventoryError whose every
    line has the FILE:LINE: form; nothing else escapes."""
    lines = TEXT.splitlines()
    for position, value, delete in edits:
        i = position % len(lines)
        if delete:
            del lines[i]
        elif ":" in lines[i]:
            lines[i] = lines[i].split(":", 1)[0] + ": " + value
    try:
        load_inventory(SMALL, text="\n".join(lines) + "\n")
    except InventoryError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.startswith(f"{SMALL}:"), problem
            assert int(problem.split(":")[1]) >= 1, problem


def test_schema_and_meaning_problems_are_reported_together_without_echoes() -> None:
    text = variant("    kind: district_node", "    kind: district_node\n    colour: blue",  # tien-yen fails the schema
                   variant("{name: db1, slot: 2, roles: [db]}", "{name: db1, slot: 2, roles: [db, ftp]}"))
    found = problems(text)
    assert len(found) == 2, found  # ty-dong-ngu's parent and uplink name the broken site: no echo of that
    assert "unknown role 'ftp'" in found[0] and "sites[tien-yen].colour: unknown key" in found[1]
    assert "this section takes: name, title, code" in found[1]
