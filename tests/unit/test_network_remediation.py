"""Remediation: the exact lines a push sends, per platform, from running and intended text.

FRR's running configurations here are what FRR 8.4 printed (tests/fixtures/network/running/frr/)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from egov.errors import NetworkError
from inventory import load_inventory
from network.drivers import DRIVERS, driver_class
from network.drivers.cisco_ios import CiscoIosDriver
from network.drivers.frr import FrrDriver
from network.drivers.huawei_vrp import HuaweiVrpDriver
from network.drivers.juniper_junos import JuniperJunosDriver
from network.render import render

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "network"


@pytest.fixture(scope="module")
def lab_inv() -> Any:
    return load_inventory(REPO / "inventory" / "lab.yml")


@pytest.fixture(scope="module")
def platforms_inv() -> Any:
    return load_inventory(FIXTURES / "platforms.yml")


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_frr_running_equal_to_intended_needs_nothing(lab_inv: Any) -> None:
    """What FRR printed after the push compares equal, though it reorders lines, drops defaults
    and adds version stamps: the no-op push sends nothing."""
    intended = render(lab_inv, lab_inv.routers["qn-ty-r1"])
    assert FrrDriver.remediation(_fixture("running/frr/qn-ty-r1.cfg"), intended) == []


def test_frr_from_management_only_sends_the_whole_wan(lab_inv: Any) -> None:
    intended = render(lab_inv, lab_inv.routers["qn-ty-r1"])
    lines = FrrDriver.remediation(_fixture("running/frr/day0.cfg"), intended)
    assert lines[:2] == ["interface lo", "ip address 10.22.186.12/32"]
    assert "router ospf" in lines and " area 0.0.0.199 stub no-summary".strip() in lines
    # never touch what the inventory does not manage
    assert not any(line.startswith(("no hostname", "no frr", "no ipv6 forwarding", "no service")) for line in lines)
    # every section is left explicitly, so the next one starts at the top level
    assert lines.count("exit") == sum(1 for line in lines if line.startswith(("interface ", "router ")))


def test_frr_area_change_removes_before_adding(lab_inv: Any) -> None:
    """FRR refuses a second 'ip ospf area' ("Must remove previous area config"): the negation comes first,
    and 'no area X stub no-summary' is rewritten to drop the stub area, not just no-summary."""
    running = _fixture("running/frr/qn-ty-r1.cfg")
    intended = running.replace("0.0.0.199", "0.0.0.42")
    lines = FrrDriver.remediation(running, intended)
    assert lines == [
        "interface wan202", "no ip ospf area 0.0.0.199", "ip ospf area 0.0.0.42", "exit",
        "interface wan210", "no ip ospf area 0.0.0.199", "ip ospf area 0.0.0.42", "exit",
        "router ospf", "no area 0.0.0.199 stub", "area 0.0.0.42 stub no-summary", "exit",
    ]


def test_frr_removes_an_interface_line_by_line(lab_inv: Any) -> None:
    """Back to management-only (a rollback): FRR cannot delete a kernel interface, so each line goes."""
    lines = FrrDriver.remediation(_fixture("running/frr/qn-ty-r1.cfg"), _fixture("running/frr/day0.cfg"))
    assert not any(line.startswith("no interface") for line in lines)
    wan0 = lines.index("interface wan0")
    assert lines[wan0 + 1:lines.index("exit", wan0)] == [
        "no description", "no ip address 10.22.168.49/31",
        "no ip ospf area 0.0.0.0", "no ip ospf dead-interval 3", "no ip ospf hello-interval 1",
        "no ip ospf network point-to-point"]
    assert "no router ospf" in lines


@pytest.mark.skipif(shutil.which("vtysh") is None, reason="FRR's vtysh is not installed (apt install frr)")
def test_frr_negations_are_valid_frr_syntax(lab_inv: Any, tmp_path: Path) -> None:
    """Taking every rendered router back to management-only yields lines FRR accepts (vtysh -C)."""
    for router in lab_inv.routers.values():
        lines = FrrDriver.remediation(render(lab_inv, router), _fixture("running/frr/day0.cfg"))
        path = tmp_path / f"{router.name}.conf"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        check = subprocess.run(["vtysh", "-C", "-f", str(path)], check=False, capture_output=True, text=True)
        assert check.returncode == 0, f"{router.name}: {check.stderr}"


def test_frr_defaults_are_not_compared() -> None:
    """FRR prints nothing for a value equal to its default: rendering one must not diff forever."""
    running = "interface wan0\n ip ospf area 0.0.0.0\nexit\n"
    intended = "interface wan0\n ip ospf area 0.0.0.0\n ip ospf hello-interval 10\n ip ospf dead-interval 40\nexit\n"
    assert FrrDriver.remediation(running, intended) == []


@pytest.mark.parametrize("platform", sorted(DRIVERS))
def test_rendered_configuration_is_its_own_fixed_point(platforms_inv: Any, platform: str) -> None:
    for router in platforms_inv.routers.values():
        if router.platform == platform:
            text = render(platforms_inv, router)
            assert driver_class(platform).remediation(text, text) == [], router.name


def test_cisco_hello_change() -> None:
    running = "interface GigabitEthernet0/0/0\n ip ospf hello-interval 10\n ip ospf dead-interval 40\n!\n"
    intended = "interface GigabitEthernet0/0/0\n ip ospf hello-interval 1\n ip ospf dead-interval 3\n!\n"
    assert CiscoIosDriver.remediation(running, intended) == [
        "interface GigabitEthernet0/0/0", "no ip ospf hello-interval 10", "no ip ospf dead-interval 40",
        "ip ospf hello-interval 1", "ip ospf dead-interval 3", "exit"]


def test_huawei_uses_undo_and_quit() -> None:
    running = ("#\ninterface GigabitEthernet0/0/0\n ospf timer hello 10\n"
               "#\nntp-service unicast-server 10.0.0.1\n#\nreturn\n")
    intended = "#\ninterface GigabitEthernet0/0/0\n ospf timer hello 1\n#\nntp-service unicast-server 10.0.0.2\n#\n"
    lines = HuaweiVrpDriver.remediation(running, intended)
    assert "undo ntp-service unicast-server 10.0.0.1" in lines and "ntp-service unicast-server 10.0.0.2" in lines
    assert lines[lines.index("interface GigabitEthernet0/0/0") + 1:][:3] == [
        "undo ospf timer hello 10", "ospf timer hello 1", "quit"]


def test_junos_sends_set_and_delete_lines(platforms_inv: Any) -> None:
    intended = render(platforms_inv, platforms_inv.routers["core-junos"])
    running = intended.replace("hello-interval 10;", "hello-interval 5;", 1)
    lines = JuniperJunosDriver.remediation(running, intended)
    assert len(lines) == 2
    assert (lines[0].startswith("delete protocols ospf area 0.0.0.0 interface ")
            and lines[0].endswith("hello-interval 5"))
    assert lines[1].startswith("set protocols ospf area 0.0.0.0 interface ") and lines[1].endswith("hello-interval 10")


def test_unknown_platform_lists_the_known_ones() -> None:
    with pytest.raises(NetworkError, match="no driver for platform 'vyos' \\(known: cisco_ios, frr, huawei_vrp"):
        driver_class("vyos")
