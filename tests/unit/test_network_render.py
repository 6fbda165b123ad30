"""Rendering: golden files for every platform at every level, determinism, FRR's own syntax check,
and errors that name the template file and line or the router and variable."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from egov.errors import NetworkError
from inventory import load_inventory
from network import render as render_mod
from network.drivers import DRIVERS
from network.render import render, render_all

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "network"
GOLDEN = FIXTURES / "golden"
PLATFORMS_INV = FIXTURES / "platforms.yml"
# set EGOV_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate template change (then review the diff)
UPDATE = os.environ.get("EGOV_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def platforms_inv():
    return load_inventory(PLATFORMS_INV)


def test_fixture_covers_every_platform_at_every_level(platforms_inv) -> None:
    combos = {(r.platform, platforms_inv.sites[r.site].level) for r in platforms_inv.routers.values()}
    syntaxes = {cls.syntax for cls in DRIVERS.values()}  # VRP V8 renders VRP's templates
    assert combos == {(p, level) for p in syntaxes for level in ("province", "district", "commune")}


def test_golden_files(platforms_inv) -> None:
    configs = render_all(platforms_inv, list(platforms_inv.routers.values()))
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, text in configs.items():
            (GOLDEN / f"{name}.cfg").write_text(text, encoding="utf-8")
    golden = {p.stem: p.read_text(encoding="utf-8") for p in GOLDEN.glob("*.cfg")}
    assert set(golden) == set(configs)
    for name, text in configs.items():
        assert text == golden[name], f"{name} differs from {GOLDEN / name}.cfg"


def test_same_inventory_same_bytes(platforms_inv) -> None:
    again = load_inventory(PLATFORMS_INV)
    for name, router in platforms_inv.routers.items():
        assert render(platforms_inv, router) == render(again, again.routers[name])


def test_design_in_rendered_text(platforms_inv) -> None:
    """Backbone on the core, ABR with a totally stubby area, stub commune, management from the NOC only."""
    core = render(platforms_inv, platforms_inv.routers["core-ios"])
    district = render(platforms_inv, platforms_inv.routers["d-ios-r1"])
    commune = render(platforms_inv, platforms_inv.routers["c-ios-r1"])
    assert "stub" not in core and "ip ospf 1 area 0.0.0.0" in core
    assert " area 0.0.0.194 stub no-summary" in district
    assert "ip ospf 1 area 0.0.0.0" in district and "ip ospf 1 area 0.0.0.194" in district
    assert " area 0.0.0.194 stub\n" in commune and "no-summary" not in commune
    for net in platforms_inv.noc_networks:
        assert f"permit {net.network_address} {net.hostmask}" in commune
    ntp = [h.server_ip for h in platforms_inv.hosts_with_role("ntp")]
    assert all(f"ntp server {ip}" in commune for ip in ntp)
    assert "logging host 10.22.176.14" in commune and "tacacs server dc-ops1" in commune
    assert "banner login ^C\nAuthorised access only" in commune


needs_vtysh = pytest.mark.skipif(shutil.which("vtysh") is None, reason="FRR's vtysh is not installed (apt install frr)")


@needs_vtysh
@pytest.mark.parametrize("inventory_file", ["inventory/lab.yml", "inventory/quangninh.yml",
                                            "tests/fixtures/network/platforms.yml"])
def test_frr_configs_pass_vtysh_dry_run(inventory_file: str, tmp_path: Path) -> None:
    inv = load_inventory(REPO / inventory_file)
    frr = [r for r in inv.routers.values() if r.platform == "frr"]
    assert frr
    for router in frr:
        path = tmp_path / f"{router.name}.conf"
        path.write_text(render(inv, router), encoding="utf-8")
        check = subprocess.run(["vtysh", "-C", "-f", str(path)], check=False, capture_output=True, text=True)
        assert check.returncode == 0, f"{router.name}: {check.stdout}{check.stderr}"


@needs_vtysh
def test_vtysh_dry_run_catches_a_bad_line(tmp_path: Path) -> None:
    """The check above can fail: vtysh -C refuses a misspelt command."""
    path = tmp_path / "bad.conf"
    path.write_text("interface wan0\n ip adress 10.0.0.0/31\n", encoding="utf-8")
    assert subprocess.run(["vtysh", "-C", "-f", str(path)], check=False, capture_output=True).returncode != 0


def test_every_quangninh_router_renders() -> None:
    inv = load_inventory(REPO / "inventory" / "quangninh.yml")
    configs = render_all(inv, list(inv.routers.values()))
    assert len(configs) == len(inv.routers) > 100
    assert all(str(inv.routers[name].loopback) in text for name, text in configs.items())


def _broken_templates(tmp_path: Path, body: str) -> Path:
    shutil.copytree(render_mod.TEMPLATES, tmp_path / "network")
    (tmp_path / "network" / "frr" / "commune.j2").write_text(body, encoding="utf-8")
    return tmp_path / "network"


@pytest.mark.parametrize("body, expected", [
    ('{% extends "base.j2" %}\n{% block areas %}\n area {{ ospf.no_such_field }}\n{% endblock %}\n',
     "commune.j2:3"),
    ('{% extends "base.j2" %}\n{% block areas %}\n{% for x in %}\n{% endblock %}\n', "commune.j2:3"),
])
def test_template_errors_name_file_and_line(platforms_inv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            body: str, expected: str) -> None:
    monkeypatch.setattr(render_mod, "TEMPLATES", _broken_templates(tmp_path, body))
    with pytest.raises(NetworkError, match=expected):
        render(platforms_inv, platforms_inv.routers["c-frr-r1"])


def test_bad_variable_names_router_and_key(tmp_path: Path) -> None:
    text = PLATFORMS_INV.read_text(encoding="utf-8").replace(
        'network__banner: "', 'network__ospf_hello: 5\n  network__ospf_dead: 5\n  network__banner: "')
    path = tmp_path / "bad.yml"
    path.write_text(text, encoding="utf-8")
    inv = load_inventory(path)
    with pytest.raises(NetworkError, match=r"router core-frr: network__ospf_dead \(5\) must exceed"):
        render(inv, inv.routers["core-frr"])
