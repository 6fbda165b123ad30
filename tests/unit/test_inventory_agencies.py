"""Agencies as data: loaded from the top-level ``agencies:`` list, each problem with its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from egov.errors import InventoryError
from inventory import load_inventory

SMALL = Path(__file__).parents[1] / "fixtures" / "inventory" / "small.yml"
SAMPLES = Path(__file__).parents[2] / "inventory"
AGENCIES = """
agencies:
  - {code: so-noi-vu, name: Sở Nội vụ, short: snv, site: dc}
  - {code: so-tai-chinh, name: Sở Tài chính, short: stc, site: dc, mail_domain: stc.quangninh.gov.vn}
  - code: tien-yen
    name: Ủy ban nhân dân huyện Tiên Yên
    short: tienyen
    site: tien-yen
    confirmed: false
"""


def with_agencies(old: str = "", new: str = "") -> str:
    block = AGENCIES
    if old:
        assert block.count(old) == 1, old
        block = block.replace(old, new)
    return SMALL.read_text(encoding="utf-8") + block


def problems(text: str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load_inventory(SMALL, text=text)
    return info.value.problems


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_agencies_load_with_their_level_portal_and_mail_domain() -> None:
    inv = load_inventory(SMALL, text=with_agencies())
    assert list(inv.agencies) == ["so-noi-vu", "so-tai-chinh", "tien-yen"]
    snv, stc, ty = inv.agencies.values()
    assert (snv.name, snv.level, snv.site, snv.portal) == ("Sở Nội vụ", "province", "dc", "snv.quangninh.gov.vn")
    assert snv.mail_domain == "quangninh.gov.vn"          # none of its own: the shared domain
    assert stc.mail_domain == "stc.quangninh.gov.vn"
    assert (ty.level, ty.confirmed, snv.confirmed) == ("district", False, True)


def test_an_inventory_without_agencies_has_none() -> None:
    assert load_inventory(SMALL).agencies == {}


# (id, old, new, marker of the line, field label, words)
CASES = [
    ("duplicate code", "code: so-tai-chinh,", "code: so-noi-vu,", "short: stc", "agencies[so-noi-vu].code",
     "code 'so-noi-vu' is already used by the agency on line"),
    ("duplicate short name", "short: stc,", "short: snv,", "Sở Tài chính", "agencies[so-tai-chinh].short",
     "short 'snv' is already used"),
    ("duplicate portal", "short: stc, site: dc,", "short: stc, portal: snv.quangninh.gov.vn, site: dc,",
     "Sở Tài chính", "agencies[so-tai-chinh].portal", "portal 'snv.quangninh.gov.vn' is already used"),
    ("a platform service's name", "short: snv,", "short: www,", "Sở Nội vụ", "agencies[so-noi-vu].short",
     "is the platform's service name www"),
    ("bad DNS label", "short: snv,", "short: s_nv,", "Sở Nội vụ", "agencies[so-noi-vu].short", "should match pattern"),
    ("label too long", "short: snv,", f"short: {'s' * 64},", "Sở Nội vụ", "agencies[so-noi-vu].short",
     "should match pattern"),
    ("bad mail domain", "mail_domain: stc.quangninh.gov.vn", "mail_domain: stc..gov.vn", "Sở Tài chính",
     "agencies[so-tai-chinh].mail_domain", "should match pattern"),
    ("unknown site", "site: tien-yen\n", "site: tien-yen-x\n", "site: tien-yen-x", "agencies[tien-yen].site",
     "no site is named 'tien-yen-x'"),
    ("unknown key", "    confirmed: false\n", "    confirmed: false\n    colour: blue\n", "colour: blue",
     "agencies[tien-yen].colour", "unknown key (this section takes: code, name, short, site"),
    ("missing name", "    name: Ủy ban nhân dân huyện Tiên Yên\n", "", "  - code: tien-yen", "agencies[tien-yen].name",
     "required, but missing"),
]


@pytest.mark.parametrize("old, new, marker, label, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_agency_names_file_line_and_field(old: str, new: str, marker: str, label: str, words: str) -> None:
    text = with_agencies(old, new)
    found = problems(text)
    prefix = f"{SMALL}:{line_of(text, marker)}: {label}: "
    assert any(p.startswith(prefix) and words in p for p in found), (prefix, words, found)


def test_an_agency_of_a_broken_site_is_not_reported_again() -> None:
    text = with_agencies().replace("    kind: district_node\n", "    kind: district_node\n    colour: blue\n", 1)
    found = problems(text)
    assert len(found) == 1 and "sites[tien-yen].colour" in found[0], found


def test_every_bad_agency_is_reported_at_once() -> None:
    text = with_agencies("short: snv,", "short: s_nv,").replace("site: tien-yen\n", "site: nowhere\n")
    found = problems(text)
    assert len(found) == 2 and "agencies[so-noi-vu].short" in found[0] and "agencies[tien-yen].site" in found[1]


def test_the_samples_list_their_agencies() -> None:
    """quangninh-2025.yml: the province's departments and its 54 commune-level committees, each at its own
    site; quangninh.yml: the seed's departments and 13 district-level committees."""
    two = load_inventory(SAMPLES / "quangninh-2025.yml")
    communes = [a for a in two.agencies.values() if a.level == "commune"]
    assert len(communes) == 54 and {a.site for a in communes} == {s.name for s in two.sites.values()
                                                                  if s.level == "commune"}
    assert all(a.name.startswith("Ủy ban nhân dân ") for a in communes)
    assert any(a.code == "so-noi-vu" and a.level == "province" for a in two.agencies.values())
    seed = load_inventory(SAMPLES / "quangninh.yml")
    assert len([a for a in seed.agencies.values() if a.level == "district"]) == 13


@pytest.mark.parametrize("bad", ['Sở "Nội" vụ', "Sở $host", "Sở <b>", "Sở; x"])
def test_a_name_that_a_page_or_nginx_would_have_to_escape_is_refused(bad: str) -> None:
    text = with_agencies("name: Sở Nội vụ,", f"name: '{bad}',")
    found = problems(text)
    assert any(f":{line_of(text, 'short: snv')}: agencies[so-noi-vu].name: " in p for p in found), found
