"""The on-call page's data (page.json), generated from the inventory: expectations are read off the
inventory files themselves (their sites, parents and routers' uplinks), not off the generator."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from inventory import load_inventory
from monitoring.rules import alerts
from monitoring.targets import build_plan
from monitoring.web.site import RUNBOOKS, page_json, proxies, site_files

REPO = Path(__file__).resolve().parents[2]


def page(name: str) -> dict[str, Any]:
    inv = load_inventory(REPO / "inventory" / name)
    return dict(json.loads(page_json(inv, build_plan(inv).top[0])))


def raw_sites(name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load((REPO / "inventory" / name).read_text(encoding="utf-8"))["sites"])


def test_the_lab_draws_its_districts_with_their_communes_folded_in() -> None:
    data = page("lab.yml")
    sites = {s["name"]: s for s in data["sites"]}
    drawn = [s["name"] for s in data["sites"] if "x" in s]
    assert drawn == ["dc", "tien-yen", "dam-ha"]
    assert sites["tien-yen"]["folded"] == ["ty-tien-yen", "ty-dong-ngu"]
    assert sites["dam-ha"]["folded"] == ["dh-dam-ha", "dh-quang-tan"]
    assert sites["ty-dong-ngu"]["folded_into"] == "tien-yen" and "x" not in sites["ty-dong-ngu"]
    assert sites["tien-yen"]["title"] == "Huyện Tiên Yên" and sites["tien-yen"]["hosts"] == ["qn-ty-node1"]
    # each district router has two uplinks, to qn-core1 and qn-core2 (both in dc); the communes'
    # links stay inside their district's box
    assert sorted((e["child"], e["parent"], e["links"]) for e in data["edges"]) == [
        ("dam-ha", "dc", 2), ("tien-yen", "dc", 2)]


def test_a_three_level_province_folds_every_commune_under_its_district() -> None:
    data = page("quangninh.yml")
    spec = raw_sites("quangninh.yml")
    level = {s["name"]: s["level"] for s in spec}
    parent = {s["name"]: s.get("parent") for s in spec}
    sites = {s["name"]: s for s in data["sites"]}
    assert set(sites) == set(level)  # every site, once
    assert {n for n, s in sites.items() if "x" in s} == {n for n, lvl in level.items() if lvl != "commune"}
    for name, lvl in level.items():
        if lvl == "commune":
            assert sites[name]["folded_into"] == parent[name]
            assert name in sites[parent[name]]["folded"]


def test_a_two_level_province_draws_every_commune() -> None:
    data = page("quangninh-2025.yml")
    communes = [s["name"] for s in raw_sites("quangninh-2025.yml") if s["level"] == "commune"]
    drawn = {s["name"] for s in data["sites"] if "x" in s}
    assert len(communes) == 54 and set(communes) <= drawn
    assert all(not s.get("folded") for s in data["sites"] if "x" in s)


@pytest.mark.parametrize("name", ["lab.yml", "quangninh.yml", "quangninh-2025.yml"])
def test_boxes_lie_inside_the_drawing_and_never_overlap(name: str) -> None:
    data = page(name)
    w, h = data["box"]["width"], data["box"]["height"]
    boxes = [(s["x"], s["y"]) for s in data["sites"] if "x" in s]
    assert all(0 <= x and x + w <= data["width"] and 0 <= y and y + h <= data["height"] for x, y in boxes)
    for i, (x1, y1) in enumerate(boxes):
        for x2, y2 in boxes[i + 1:]:
            assert abs(x1 - x2) >= w or abs(y1 - y2) >= h, f"{name}: boxes at {(x1, y1)} and {(x2, y2)} overlap"
    # the folded squares fit in their box
    per = data["box"]["squares_per_line"]
    assert 8 + per * 9.5 <= w
    assert all(46 + -(-len(s["folded"]) // per) * 10 <= h for s in data["sites"] if "x" in s)


def test_the_page_asks_only_what_nginx_proxies_and_refreshes_with_the_rules() -> None:
    lab, production = page("lab.yml"), page("quangninh.yml")
    inv = load_inventory(REPO / "inventory" / "lab.yml")
    proxied = dict(proxies(build_plan(inv).top[0]))
    assert sorted(lab["api"].values()) == sorted(proxied)
    assert proxied["api/prometheus/api/v1/query"] == "https://127.0.0.1:9090/api/v1/query"
    assert proxied["api/alertmanager/api/v2/alerts"] == "https://127.0.0.1:9093/api/v2/alerts"
    # the lab evaluates every 5 s (inventory/lab.yml), production every 30 s (the defaults)
    assert (lab["refresh_seconds"], production["refresh_seconds"]) == (5, 30)
    assert lab["province"] == "Quảng Ninh" and lab["monitor"] == "dc-ops1"


def test_the_page_directory_holds_the_page_its_data_and_the_runbooks() -> None:
    inv = load_inventory(REPO / "inventory" / "lab.yml")
    files = site_files(inv, build_plan(inv).top[0])
    assert sorted(files) == ["app.js", "index.html", "page.json", "runbooks.md", "style.css"]
    index = files["index.html"]
    # nothing from outside: the NOC may have no way out, and the CSP allows only 'self'
    assert not re.search(r"(src|href)=\"(https?:)?//", index)
    assert 'src="app.js"' in index and 'href="style.css"' in index
    assert files["runbooks.md"] == RUNBOOKS.read_text(encoding="utf-8")


def test_every_alert_has_a_runbook_the_page_can_show() -> None:
    """The page finds an alert's runbook by its anchor, the lower-cased alert name."""
    inv = load_inventory(REPO / "inventory" / "lab.yml")
    anchors = set(re.findall(r'^<a id="([a-z0-9-]+)"></a>\n#{3,4} ', RUNBOOKS.read_text(encoding="utf-8"), re.M))
    missing = {a.name for a in alerts(build_plan(inv).settings) if a.name.lower() not in anchors}
    assert not missing, f"alerts without a runbook in docs/monitoring.md: {sorted(missing)}"
