"""add-site: round-trip edit that keeps every comment and line, lowest free index, validated before writing."""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from egov.errors import InventoryError
from inventory import load_inventory
from inventory.edit import add_site

ROOT = Path(__file__).parents[2]


def only_inserted(before: str, after: str) -> list[str]:
    """The lines ``after`` adds to ``before`` in one block; fails if any line of ``before`` changed or moved."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    blocks = [op for op in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes() if op[0] != "equal"]
    assert [op[0] for op in blocks] == ["insert"], blocks
    _, _, _, start, end = blocks[0]
    return [line for line in new[start:end] if line.strip()]


@pytest.fixture()
def lab_copy(tmp_path: Path) -> Path:
    path = tmp_path / "lab.yml"
    shutil.copy(ROOT / "inventory" / "lab.yml", path)
    return path


def test_add_site_keeps_comments_and_layout(lab_copy: Path) -> None:
    before = lab_copy.read_text(encoding="utf-8")
    old = load_inventory(lab_copy)
    added = add_site(lab_copy, parent="tien-yen", level="commune", name="ty-ha-lau", title="Xã Hà Lâu")
    after = lab_copy.read_text(encoding="utf-8")
    # every original line, comments included, is still there, in place: the site is one block inserted at the
    # end of the sites (before the agencies section and the comments that introduce it)
    inserted = only_inserted(before, after)
    assert inserted[0] == "  - name: ty-ha-lau\n" and after.index("  - name: ty-ha-lau") < after.index("agencies:")
    assert "# The lab has no way out" in after and "title: Xã Hà Lâu" in after
    assert added.changed and added.index == 0  # the lowest free commune index
    new = load_inventory(lab_copy)
    assert new.sites["ty-ha-lau"].parent == "tien-yen"
    assert new.routers["ty-ha-lau-r1"].uplinks == ["qn-ty-r1"]
    for name, site in old.sites.items():  # nothing else moved
        assert new.sites[name].subnets == site.subnets
    for name, router in old.routers.items():
        assert new.routers[name].loopback == router.loopback


def test_add_site_twice_changes_nothing(lab_copy: Path) -> None:
    add_site(lab_copy, parent="dam-ha", level="commune", name="dh-quang-an")
    text = lab_copy.read_text(encoding="utf-8")
    again = add_site(lab_copy, parent="dam-ha", level="commune", name="dh-quang-an")
    assert not again.changed and lab_copy.read_text(encoding="utf-8") == text


def test_add_district_gets_node_and_dual_homed_router(lab_copy: Path) -> None:
    added = add_site(lab_copy, parent="dc", level="district", name="co-to", code="207", title="Huyện Cô Tô")
    assert added.index == 0 and [h["name"] for h in added.hosts] == ["co-to-node1"]
    inv = load_inventory(lab_copy)
    assert inv.routers["co-to-r1"].uplinks == ["qn-core1", "qn-core2"] and inv.sites["co-to"].code == "207"
    assert 'code: "207"' in lab_copy.read_text(encoding="utf-8")


def test_invalid_result_writes_nothing(lab_copy: Path) -> None:
    before = lab_copy.read_text(encoding="utf-8")
    with pytest.raises(InventoryError) as info:  # a name the schema refuses
        add_site(lab_copy, parent="tien-yen", level="commune", name="Bad_Name")
    assert "sites[Bad_Name].name" in str(info.value)
    with pytest.raises(InventoryError, match="must be at level district"):
        add_site(lab_copy, parent="dc", level="commune", name="c-x")
    assert lab_copy.read_text(encoding="utf-8") == before


def test_cli_add_site_prints_what_it_allocated(lab_copy: Path) -> None:
    args = ["inventory", "add-site", "-i", str(lab_copy), "--parent", "tien-yen", "--level", "commune",
            "--name", "ty-hai-lang", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["changed"] and data["subnets"]["user"] and data["routers"][0]["links"]
    result = CliRunner().invoke(main, args[:-1])
    assert result.exit_code == 0 and "nothing changed" in result.output


@pytest.mark.parametrize("name", ["lab.yml", "quangninh.yml", "quangninh-2025.yml"])
def test_samples_survive_a_round_trip_unchanged(name: str) -> None:
    """add-site rewrites the whole file: a sample that ruamel would reformat would be disturbed by it."""
    import io

    from inventory.source import round_trip_yaml

    text = (ROOT / "inventory" / name).read_text(encoding="utf-8")
    yaml = round_trip_yaml()
    out = io.StringIO()
    yaml.dump(yaml.load(text), out)
    assert out.getvalue() == text


def test_add_site_to_production_keeps_every_other_address(tmp_path: Path) -> None:
    path = tmp_path / "quangninh.yml"
    shutil.copy(ROOT / "inventory" / "quangninh.yml", path)
    old = load_inventory(path)
    added = add_site(path, parent="tien-yen", level="commune", name="ty-khe-moi", title="Xã Khe Mới (placeholder)",
                     router="qn-ty-khe-moi-r1")
    new = load_inventory(path)
    assert added.index == 33  # lowest free commune index: the first gap in the level, whichever district it is in
    assert {n: (r.loopback, r.mgmt_ip, [(i.name, i.ip) for i in r.interfaces]) for n, r in old.routers.items()} == \
        {n: (r.loopback, r.mgmt_ip, [(i.name, i.ip) for i in r.interfaces if i.peer != "qn-ty-khe-moi-r1"])
         for n, r in new.routers.items() if n in old.routers}


def test_add_agency_appends_a_section_keeping_every_line_and_is_idempotent(lab_copy: Path) -> None:
    from inventory.edit import add_agency

    before = lab_copy.read_text(encoding="utf-8")
    added = add_agency(lab_copy, code="so-ld", name="Sở Lao động - Thương binh, và Xã hội", short="sld", site="dc",
                       confirmed=False)
    after = lab_copy.read_text(encoding="utf-8")
    assert after.startswith(before) and added.changed
    assert (added.portal, added.mail_domain, added.level) == ("sld.quangninh.gov.vn", "quangninh.gov.vn", "province")
    agency = load_inventory(lab_copy).agencies["so-ld"]
    assert agency.name == "Sở Lao động - Thương binh, và Xã hội" and not agency.confirmed  # the comma survives
    again = add_agency(lab_copy, code="so-ld", name="Sở Lao động - Thương binh, và Xã hội", short="sld", site="dc")
    assert not again.changed and lab_copy.read_text(encoding="utf-8") == after
    add_agency(lab_copy, code="so-tc", name="Sở Tài chính", short="stc", site="dc", mail_domain="stc.quangninh.gov.vn")
    assert lab_copy.read_text(encoding="utf-8").startswith(after)     # the second goes under the first


def test_add_agency_refuses_a_clash_and_writes_nothing(lab_copy: Path) -> None:
    from inventory.edit import add_agency

    add_agency(lab_copy, code="so-ld", name="Sở Lao động", short="sld", site="dc")
    before = lab_copy.read_text(encoding="utf-8")
    with pytest.raises(InventoryError) as info:
        add_agency(lab_copy, code="so-x", name="Sở X", short="sld", site="nowhere")
    text = "\n".join(info.value.problems)
    assert "agencies[so-x].short: short 'sld' is already used" in text and "no site is named 'nowhere'" in text
    with pytest.raises(InventoryError, match="agency 'so-ld' already exists"):
        add_agency(lab_copy, code="so-ld", name="Sở Lao động", short="sld", site="tien-yen")
    assert lab_copy.read_text(encoding="utf-8") == before


def test_cli_add_agency_json(lab_copy: Path) -> None:
    args = ["inventory", "add-agency", "-i", str(lab_copy), "--code", "tien-yen", "--name",
            "Ủy ban nhân dân huyện Tiên Yên", "--short", "tienyen", "--site", "tien-yen", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["portal"] == "tienyen.quangninh.gov.vn"
    bad = CliRunner().invoke(main, [*args[:4], "--code", "dam-ha", "--name", "Ủy ban nhân dân huyện Đầm Hà",
                                    "--short", "Dam_Ha", "--site", "dam-ha"])
    assert bad.exit_code == 2 and "should match pattern" in bad.output and "Traceback" not in bad.output
