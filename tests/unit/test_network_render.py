"""Rendering: golden files for every platform at every level, determinism, FRR's own syntax check,
and errors that name the template file and line or the router and variable."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from egov.errors import InventoryError, NetworkError, SecretsError
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
    # a one-character delimiter on lines of its own (typed, `^C` would be `^` and a stray C)
    assert "banner login ^\nAuthorised access only - So Thong tin va Truyen thong Quang Ninh\n^\n" in commune


# what each platform must hold on every WAN interface (or once) for OSPF authentication with the
# active key, per the vendor's command reference
OSPF_AUTH_LINES = {
    "frr": [" ip ospf authentication message-digest", " ip ospf message-digest-key 1 md5 golden-ospf-k1"],
    "cisco_ios": ["key chain EGOV-OSPF\n key 1\n  key-string golden-ospf-k1\n  cryptographic-algorithm hmac-sha-256",
                  " ip ospf authentication key-chain EGOV-OSPF"],
    "huawei_vrp": [" ospf authentication-mode hmac-sha256 1 cipher golden-ospf-k1"],
    "juniper_junos": ['                    md5 1 key "golden-ospf-k1";'],
}


@pytest.mark.parametrize("platform", sorted(OSPF_AUTH_LINES))
def test_ospf_authentication_on_every_wan_link(platforms_inv, platform: str) -> None:
    for router in platforms_inv.routers.values():
        if router.platform != platform:
            continue
        text = render(platforms_inv, router)
        for line in OSPF_AUTH_LINES[platform]:
            assert line in text, f"{router.name}: {line!r}"
        per_interface = OSPF_AUTH_LINES[platform][-1]
        assert text.count(per_interface) == len(router.interfaces), router.name


def test_next_key_is_accepted_beside_the_active_one(tmp_path: Path) -> None:
    path = _variant(tmp_path, "network__ospf_auth_keys: [{id: 1, secret: ospf_key_1}, {id: 2, secret: ospf_key_2}]")
    inv = load_inventory(path)
    frr = render(inv, inv.routers["d-frr-r1"])
    # FRR sends with the key added last: the active one
    assert " ip ospf message-digest-key 2 md5 golden-ospf-k2\n ip ospf message-digest-key 1 md5 golden-ospf-k1" in frr
    ios = render(inv, inv.routers["d-ios-r1"])
    assert " key 2\n  key-string golden-ospf-k2\n  cryptographic-algorithm hmac-sha-256" in ios
    junos = render(inv, inv.routers["d-junos-r1"])
    assert 'md5 1 key "golden-ospf-k1";\n                    md5 2 key "golden-ospf-k2";' in junos


def test_management_essentials_per_platform(platforms_inv) -> None:
    """The local fallback of AAA has a user, the enable secret / super password / root authentication
    is set, the management port sits in its VRF with its route, SSH comes in through vrf-also."""
    ios = render(platforms_inv, platforms_inv.routers["d-ios-r1"])
    assert "username egov-breakglass privilege 15 secret 9 $9$goldensalt0123$" in ios
    assert "enable secret 9 $9$goldensalt4567$" in ios
    assert "interface GigabitEthernet0\n description management (out of band)\n vrf forwarding Mgmt-intf\n" in ios
    assert "ip route vrf Mgmt-intf 0.0.0.0 0.0.0.0 10.22.144.62" in ios
    assert ios.count(" access-class EGOV-MGMT in vrf-also") == 2   # line vty 0 4 and 5 15
    assert " key golden-tacacs-key" in ios and " ip tacacs source-interface Loopback0" in ios
    assert "ntp source Loopback0" in ios and "logging source-interface Loopback0" in ios
    assert "no ip http server" in ios and "login block-for 300 attempts 5 within 300" in ios
    assert " exec-timeout 10 0" in ios
    assert "v3 auth sha golden-snmp-auth priv aes 128 golden-snmp-priv" in ios
    vrp = render(platforms_inv, platforms_inv.routers["d-vrp-r1"])
    assert " local-user egov-breakglass password irreversible-cipher %^%#goldenBreakglassCipherText%^%#" in vrp
    assert "super password level 15 cipher %^%#goldenSuperCipherText%^%#" in vrp
    assert "ip route-static 0.0.0.0 0.0.0.0 MEth0/0/0 10.22.144.94 preference 254" in vrp
    assert " hwtacacs-server shared-key cipher golden-tacacs-key" in vrp
    junos = render(platforms_inv, platforms_inv.routers["core-junos"])
    assert 'root-authentication {\n        encrypted-password "$6$goldsalt$goldenroothash";' in junos
    assert "    management-instance;" in junos
    assert "    mgmt_junos {\n        routing-options {\n            static {\n" \
           "                route 0.0.0.0/0 next-hop 10.22.146.62;" in junos
    assert '            secret "golden-tacacs-key";\n            source-address 10.22.186.' in junos
    # FRR: vtysh holds routing only; its Linux host holds users, AAA and SSH
    assert "username" not in render(platforms_inv, platforms_inv.routers["d-frr-r1"])


def test_junos_district_and_srx(platforms_inv) -> None:
    district = render(platforms_inv, platforms_inv.routers["d-junos-r1"])
    assert "            stub default-metric 10 no-summaries;" in district
    # holddown in Junos's documented range (2000-20000 ms): the throttle's maximum wait
    assert "            delay 200;\n            holddown 10000;" in district
    # an SRX300 (flow mode): security zones that let OSPF in
    assert "security-zone egov-wan {" in district and "                    ospf;" in district
    assert "security {" not in render(platforms_inv, platforms_inv.routers["core-junos"])   # an MX


def test_ports_follow_the_model(platforms_inv) -> None:
    """An MX204 has no ge-0/0/*: its child links are dot1q units of its trunk; uplinks take the model's
    first ports; a model of no ports list (FRR) keeps the generic names."""
    core = platforms_inv.routers["core-junos"]
    assert {i.name.split(".")[0] for i in core.interfaces} == {"et-0/0/2"}
    assert all(i.vlan == 100 + i.port and i.name == f"et-0/0/2.{i.vlan}" for i in core.interfaces)
    district = platforms_inv.routers["d-ios-r1"]
    assert [i.name for i in district.interfaces][:2] == ["GigabitEthernet0/0/0", "GigabitEthernet0/0/1"]
    assert district.mgmt_interface == "GigabitEthernet0" and district.mgmt_vrf == "Mgmt-intf"
    assert platforms_inv.routers["c-junos-r1"].mgmt_interface == "ge-0/0/7"
    assert platforms_inv.routers["c-junos-r1"].mgmt_vrf is None
    text = render(platforms_inv, district)
    assert "interface GigabitEthernet0/0/2.134\n description WAN to c-ios-r1 (10.22.160.128/31)\n" \
           " encapsulation dot1Q 134\n" in text
    assert all(i.name.startswith("wan") for i in platforms_inv.routers["core-frr"].interfaces)


def test_hub_without_a_trunk_needing_more_ports_is_refused(tmp_path: Path) -> None:
    """An SRX300 without a trunk has 2 WAN ports: a district router with 2 uplinks and a commune needs 3."""
    text = PLATFORMS_INV.read_text(encoding="utf-8").replace(
        "defaults:\n", "defaults:\n  network__models:\n    SRX300: {trunk: null}\n", 1)
    path = tmp_path / "ports.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "name: d-junos-r1" in t)
    assert f"ports.yml:{line}: sites[d-junos].routers[d-junos-r1]: router d-junos-r1 (model SRX300) has links " \
           "that need 3 WAN ports, but the model has 2 and no trunk" in str(caught.value)


def test_a_model_is_overridden_field_by_field_and_checked_on_its_routers(tmp_path: Path) -> None:
    """A layer changes one field of a model (the mappings merge): checked where it is written, and the
    merged entry again on each router of that model, naming the router and the layer."""
    path = _variant(tmp_path, "network__models: {AR651: {trunk: GigabitEthernet0/0/8}}")
    assert load_inventory(path).routers["c-vrp-r1"].interfaces[0].name == "GigabitEthernet0/0/0"
    path = _variant(tmp_path, "network__models: {AR651: {wan_ports: GigabitEthernet0/0/0}}")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    line = PLATFORMS_INV.read_text(encoding="utf-8").splitlines().index("defaults:") + 2
    assert f"variant.yml:{line}: defaults.network__models.AR651.wan_ports: Input should be a valid list" \
        in str(caught.value)
    # and where a router's own vars change its model, the router's merged entry
    text = PLATFORMS_INV.read_text(encoding="utf-8").replace(
        "{name: c-vrp-r1, slot: 0,", "{name: c-vrp-r1, slot: 0, vars: {network__models: {AR651: {trunk: 7}}},")
    path = tmp_path / "router.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert "routers[c-vrp-r1].vars.network__models.AR651.trunk: Input should be a valid string" in str(caught.value)
    assert "routers[c-vrp-r1]: network__models.AR651.trunk: Input should be a valid string (got 7) (from router " \
           "c-vrp-r1)" in str(caught.value)


def _variant(tmp_path: Path, line: str) -> Path:
    """platforms.yml with one more province-wide variable line (in place of the banner, for a banner)."""
    text = PLATFORMS_INV.read_text(encoding="utf-8")
    if line.startswith("network__banner:"):
        text = re.sub(r"\n  network__banner: .*\n", "\n", text)
    text = text.replace("defaults:\n", f"defaults:\n  {line}\n", 1)
    path = tmp_path / "variant.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("line, expected", [
    # the injections: a second line into IOS, a statement into Junos
    ('network__banner: "Welcome\\nusername evil privilege 15 secret x"', "network__banner: must be one line"),
    ('network__banner: \'Welcome"; } services { telnet; } system { login { message "x\'',
     "network__banner: must be one line"),
    ('network__banner: "Welcome ^ to IOS"', "network__banner: must be one line"),
    ('network__banner: ""', "network__banner: String should have at least 1 character"),
    ("network__ospf_hello: 0", "network__ospf_hello: Input should be greater than or equal to 1"),
    ("network__ospf_hello: 300", "network__ospf_hello: Input should be less than or equal to 255"),
    ('network__ospf_dead: "40"', "network__ospf_dead: Input should be a valid integer"),
    ("network__ospf_area: 0", "network__ospf_area: Input should be greater than or equal to 1"),
    ("network__ospf_spf_throttle: [200, -1, 10000]", "network__ospf_spf_throttle[1]: Input should be greater"),
    ("network__ospf_auth_keys: []", "network__ospf_auth_keys: List should have at least 1 item"),
    ("network__ospf_auth_keys: [{id: 256, secret: k}]", "network__ospf_auth_keys[0].id: Input should be less"),
    ("network__ospf_auth_keys: [{id: 1, secret: 'a b'}]", "network__ospf_auth_keys[0].secret: String should match"),
    ("network__static_routes: [{prefix: 10.0.0.1/8, next_hop: blackhole}]", "network__static_routes[0].prefix"),
    ("network__static_routes: [{prefix: 10.0.0.0/8, next_hop: somewhere}]", "network__static_routes[0].next_hop"),
    ("network__breakglass_user: 'root; reboot'", "network__breakglass_user: String should match"),
    ("network__exec_timeout: 0", "network__exec_timeout: Input should be greater than or equal to 1"),
    ("network__ssh_timeout: 600", "network__ssh_timeout: Input should be less than or equal to 120"),
    ("network__login_block: {block_for: 30}", "network__login_block.block_for: Input should be greater than or"),
    ("network__credential_names: {tacacs: 'Tacacs Key'}", "network__credential_names.tacacs: String should match"),
    ("network__mgmt_gateway: 10.0.0", "network__mgmt_gateway: "),
    ("network__models: [ISR4331]", "network__models: must be a mapping"),
    ("network__telnet: true", "network__telnet: unknown network variable"),
])
def test_every_variable_bad_value_is_refused_at_validate(tmp_path: Path, line: str, expected: str) -> None:
    path = _variant(tmp_path, line)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    line_number = PLATFORMS_INV.read_text(encoding="utf-8").splitlines().index("defaults:") + 2
    assert f"variant.yml:{line_number}: defaults.{expected}" in str(caught.value)


def test_platform_ranges_are_checked_on_each_router(tmp_path: Path) -> None:
    """Junos's spf-options take delay 50-8000 ms and holddown 2000-20000 ms, VRP's intelligent-timer a
    start of 1-60000 ms; FRR and IOS take 0 (the lab's throttle)."""
    path = _variant(tmp_path, "network__ospf_spf_throttle: [0, 50, 500]")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    problems = str(caught.value).splitlines()
    assert len(problems) == 9 and not any("frr" in p or "ios" in p for p in problems)
    assert "routers[core-junos]: network__ospf_spf_throttle: delay 0 ms is outside juniper_junos's range " \
           "50-8000 ms (from province)" in problems[1]
    assert "routers[core-vrp]: network__ospf_spf_throttle: delay 0 ms is outside huawei_vrp's range " \
           "1-60000 ms (from province)" in problems[0]


def test_vrp_login_block_counts_minutes_from_five(tmp_path: Path) -> None:
    """VRP's local-aaa-user wrong-password takes retry-interval and block-time of 5-65535 minutes."""
    path = _variant(tmp_path, "network__login_block: {attempts: 5, within: 60, block_for: 120}")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    problems = str(caught.value).splitlines()
    assert len(problems) == 3 and all("huawei_vrp's range" in p for p in problems)
    assert "routers[core-vrp]: network__login_block: " in problems[0]


def test_builtin_network_defaults_pass_their_schema() -> None:
    from inventory.loader import builtin_defaults
    from inventory.netvars import TYPES, layer_problems

    values = dict(next(v for label, v in builtin_defaults() if label.endswith("network.yml")))
    assert not layer_problems(values, {})
    assert {k for k in values if k.startswith("network__")} == {f"network__{k}" for k in TYPES}


def test_missing_or_unsafe_secret_names_the_secret(platforms_inv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EGOV_SECRET_TACACS_KEY")
    with pytest.raises(SecretsError, match="secret 'tacacs_key' is not set: set EGOV_SECRET_TACACS_KEY"):
        render(platforms_inv, platforms_inv.routers["d-ios-r1"])
    monkeypatch.setenv("EGOV_SECRET_TACACS_KEY", "two words")
    with pytest.raises(NetworkError, match="router d-ios-r1: secret 'tacacs_key' must be one word"):
        render(platforms_inv, platforms_inv.routers["d-ios-r1"])
    monkeypatch.setenv("EGOV_SECRET_OSPF_KEY_1", "seventeen-chars-x")   # MD5 keys: at most 16
    with pytest.raises(NetworkError, match=r"secret 'ospf_key_1' .* 4 to 16 characters"):
        render(platforms_inv, platforms_inv.routers["d-frr-r1"])
    monkeypatch.setenv("EGOV_SECRET_TACACS_KEY", "one-word")
    render(platforms_inv, platforms_inv.routers["d-ios-r1"])   # HMAC-SHA-256 keys may be longer


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
