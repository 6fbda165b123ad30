"""Remediation: the exact lines a push sends, per platform, from running and intended text.

FRR's running configurations here are what FRR 8.4 printed (tests/fixtures/network/running/frr/); the
other platforms' are day-0 configurations written from the vendors' documentation
(tests/fixtures/network/running/<platform>/day0.cfg, tests/support/day0.py). The round trip applies
the lines to a simulated device (tests/support/device_printer.py) and reads back what it prints."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from egov.errors import NetworkError
from inventory import load_inventory
from network.drivers import DRIVERS, driver_class
from network.drivers.cisco_ios import CiscoIosDriver
from network.drivers.frr import FrrDriver
from network.drivers.huawei_vrp import HuaweiVrpDriver
from network.drivers.juniper_junos import JuniperJunosDriver
from network.drivers.scope import FULL
from network.push import assess
from network.render import render
from network.session import router_scope
from tests.support.day0 import FIRST_PUSH_NEGATIONS, LEVELS, day0, fixture, speaking
from tests.support.device_printer import after_push

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
    router = lab_inv.routers["qn-ty-r1"]
    intended = render(lab_inv, router)
    assert FrrDriver.remediation(_fixture("running/frr/qn-ty-r1.cfg"), intended, router_scope(router, FrrDriver)) == []


def test_frr_from_management_only_sends_the_whole_wan(lab_inv: Any) -> None:
    router = lab_inv.routers["qn-ty-r1"]
    intended = render(lab_inv, router)
    lines = FrrDriver.remediation(_fixture("running/frr/day0.cfg"), intended, router_scope(router, FrrDriver))
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
        "no ip ospf area 0.0.0.0", "no ip ospf authentication message-digest", "no ip ospf dead-interval 3",
        "no ip ospf hello-interval 1", "no ip ospf message-digest-key 1 md5 golden-ospf-k1",
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
    """IOS prints no hello/dead interval equal to its default (10/40): rendering them is no change,
    and a change from the default sends only the new values."""
    running = "interface GigabitEthernet0/0/0\n ip ospf network point-to-point\n!\n"
    intended = "interface GigabitEthernet0/0/0\n ip ospf network point-to-point\n ip ospf hello-interval 10\n" \
               " ip ospf dead-interval 40\n!\n"
    assert CiscoIosDriver.remediation(running, intended) == []
    fast = intended.replace("hello-interval 10", "hello-interval 1").replace("dead-interval 40", "dead-interval 3")
    assert CiscoIosDriver.remediation(running, fast) == [
        "interface GigabitEthernet0/0/0", "ip ospf hello-interval 1", "ip ospf dead-interval 3", "exit"]
    assert CiscoIosDriver.remediation(fast, intended) == [
        "interface GigabitEthernet0/0/0", "no ip ospf hello-interval 1", "no ip ospf dead-interval 3", "exit"]


def test_huawei_uses_undo_and_quit() -> None:
    running = ("#\ninterface GigabitEthernet0/0/0\n ospf timer hello 5\n"
               "#\n ntp-service unicast-server 10.0.0.1\n#\nreturn\n")
    intended = "#\ninterface GigabitEthernet0/0/0\n ospf timer hello 1\n#\nntp-service unicast-server 10.0.0.2\n#\n"
    lines = HuaweiVrpDriver.remediation(running, intended)
    assert "undo ntp-service unicast-server 10.0.0.1" in lines and "ntp-service unicast-server 10.0.0.2" in lines
    assert lines[lines.index("interface GigabitEthernet0/0/0") + 1:][:3] == [
        "undo ospf timer hello 5", "ospf timer hello 1", "quit"]


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


# ---- from a day-0 configuration, as each device prints it --------------------------------------

PLATFORM_LEVELS = [(platform, name) for platform, names in sorted(LEVELS.items()) for name in names]
# negations a first push may send: turning a port up, and IOS's own "no ip domain lookup" (an addition)
def _push(inv: Any, name: str, running: str) -> Any:
    router = inv.routers[name]
    return assess(driver_class(router.platform), router, running, render(inv, router), "egovadmin",
                  inv.plan.control_ip, inv.noc_networks)


@pytest.mark.parametrize(("platform", "name"), PLATFORM_LEVELS)
def test_first_push_touches_nothing_it_does_not_own(platforms_inv: Any, platform: str, name: str) -> None:
    """A freshly installed router (local login user, enable secret or root authentication, management
    VRF or instance and its route, console and VTY lines, board, chassis, licence and certificate lines):
    the first push negates nothing and passes the lock-out guard."""
    with speaking(platforms_inv, name, platform):
        plan = _push(platforms_inv, name, day0(platforms_inv, name))
    negations = [line for line in plan.lines if line.startswith(("no ", "undo ", "delete "))
                 and line not in FIRST_PUSH_NEGATIONS]
    assert negations == [], name
    assert plan.problems == [], name
    assert plan.lines, name  # the WAN is configured


@pytest.mark.parametrize(("platform", "name"), PLATFORM_LEVELS)
def test_round_trip_second_push_sends_nothing(platforms_inv: Any, platform: str, name: str) -> None:
    """Render, push to the day-0 device, read back what it prints (headers, separators, hashed
    secrets, omitted defaults, ACL host forms): a second remediation is empty."""
    with speaking(platforms_inv, name, platform):
        plan = _push(platforms_inv, name, day0(platforms_inv, name))
        printed = after_push(platform, day0(platforms_inv, name), plan.lines)
        again = _push(platforms_inv, name, printed)
    assert again.lines == [], f"{name}: second push would send {again.lines}"


def test_full_replace_is_an_opt_in_that_negates_the_rest(platforms_inv: Any) -> None:
    """With network__full_replace the unrendered lines go (and the guard names the dangerous ones)."""
    router = platforms_inv.routers["d-ios-r1"]
    router.layers.values["network__full_replace"] = True
    try:
        plan = assess(CiscoIosDriver, router, day0(platforms_inv, "d-ios-r1"), render(platforms_inv, router),
                      "egovadmin", platforms_inv.plan.control_ip, platforms_inv.noc_networks)
    finally:
        del router.layers.values["network__full_replace"]
    assert any(line.startswith("no username egovadmin") for line in plan.lines)
    assert any("push's own login" in problem for problem in plan.problems)


def test_vrp_hash_separators_close_every_view() -> None:
    """VRP prints global commands with one leading space after a "#": they are not part of the view before."""
    config = HuaweiVrpDriver.hconfig(fixture("huawei_vrp"))
    top = [child.text for child in config.children]
    assert {"stelnet server enable", "ssh user egovadmin", "sysname d-vrp-r1",
            "ip route-static 0.0.0.0 0.0.0.0 MEth0/0/0 10.22.144.94"} <= set(top)
    acl_free = config.get_child(equals="interface NULL0")
    assert acl_free is not None and not acl_free.children


def test_junos_secret_markers_and_headers_are_not_configuration() -> None:
    lines = JuniperJunosDriver.unmasked(fixture("juniper_junos"))
    assert "SECRET-DATA" not in lines and "Last commit" not in lines and "version 21" not in lines
    sets = [child.text for child in JuniperJunosDriver.hconfig(fixture("juniper_junos")).children]
    assert "set system root-authentication encrypted-password <secret>" in sets
    assert "set routing-instances mgmt_junos routing-options static route 0.0.0.0/0 next-hop 10.22.144.126" in sets


def test_ios_headers_and_acl_host_forms() -> None:
    """IOS prints "Building configuration", "Current configuration : N bytes", and a host entry without
    its 0.0.0.0 wildcard, host entries first: the same ACL as rendered."""
    printed = ("Building configuration...\n\nCurrent configuration : 310 bytes\n!\n"
               "ip access-list standard EGOV-MGMT\n 20 permit 10.22.176.14\n 10 permit 10.22.146.14\n"
               " 5 permit 10.22.146.0 0.0.0.63\n!\nend\n")
    rendered = ("ip access-list standard EGOV-MGMT\n 5 permit 10.22.146.0 0.0.0.63\n 10 permit 10.22.146.14 0.0.0.0\n"
                " 20 permit host 10.22.176.14\n")
    assert CiscoIosDriver.remediation(printed, rendered) == []


def test_hashed_secrets_compare_with_rendered_ones() -> None:
    """The device prints a hash of the secret it was given: no diff for a user it has; a missing user is
    sent with the rendered secret (never the mask)."""
    running = "username egovadmin privilege 15 secret 9 $9$4pY0k3Vq2bT9Ek$eCk1y7o\n!\nend\n"
    intended = "username egovadmin privilege 15 secret 0 Br3ak-Gl4ss\n"
    assert CiscoIosDriver.remediation(running, intended) == []
    other = "username breakglass privilege 15 secret 0 Br3ak-Gl4ss\n"
    assert CiscoIosDriver.remediation(running, other, FULL) == [
        "no username egovadmin privilege 15 secret 9 $9$4pY0k3Vq2bT9Ek$eCk1y7o",
        "username breakglass privilege 15 secret 0 Br3ak-Gl4ss"]


def test_vrp_prints_acl_host_wildcards_as_zero() -> None:
    printed = "#\nacl number 2000\n rule 5 permit source 10.22.146.14 0\n#\nreturn\n"
    rendered = "acl number 2000\n rule 5 permit source 10.22.146.14 0.0.0.0\n"
    assert HuaweiVrpDriver.remediation(printed, rendered) == []


def test_scope_is_data_overridable_per_router(platforms_inv: Any) -> None:
    """A router whose NTP servers are not the toolkit's: its own network__scope leaves them alone."""
    router = platforms_inv.routers["d-ios-r1"]
    running = day0(platforms_inv, "d-ios-r1").replace("ip forward-protocol nd\n", "ip forward-protocol nd\n"
                                                         "ntp server 192.0.2.123\n")
    assert "no ntp server 192.0.2.123" in _push(platforms_inv, "d-ios-r1", running).lines
    scope = {platform: dict(entry) for platform, entry in router.vars["network__scope"].items()}
    scope["cisco_ios"]["owned"] = [p for p in scope["cisco_ios"]["owned"] if p != "^ntp server "]
    before = router.layers.values.get("network__scope")  # the merged layers' value: put back as it was
    router.layers.values["network__scope"] = scope
    try:
        assert "no ntp server 192.0.2.123" not in _push(platforms_inv, "d-ios-r1", running).lines
    finally:
        if before is None:
            del router.layers.values["network__scope"]
        else:
            router.layers.values["network__scope"] = before


@pytest.mark.parametrize(("value", "message"), [
    ({"cisco_ios": {"owned": ["^ntp server ("]}},
     "network__scope.cisco_ios.owned: bad regular expression '^ntp server ('"),
    ({"cisco_ios": {"owned": "^ntp"}}, "network__scope.cisco_ios.owned must be a list of regular expressions"),
    ({"cisco_ios": {"own": []}}, "network__scope.cisco_ios: unknown key(s) own"),
    ({"frr": {}}, "network__scope has no entry for platform 'cisco_ios'"),
])
def test_a_bad_scope_names_the_router_and_the_key(value: Any, message: str) -> None:
    from network.drivers.scope import Scope

    with pytest.raises(NetworkError) as caught:
        Scope.from_vars("router d-ios-r1", "cisco_ios", {"network__scope": value, "network__full_replace": False},
                        "GigabitEthernet0")
    assert str(caught.value).startswith("router d-ios-r1: ") and message in str(caught.value)


# ---- write-only lines: IOS never prints its SNMPv3 users (Cisco's SNMP configuration guide) -------

SHOW_SNMP_USER = _fixture("show/cisco_ios/show_snmp_user.txt")  # as IOS XE's command reference prints it


def _ios_push(inv: Any, name: str, running: str, report: str | None) -> Any:
    """``_push`` with the device's ``show snmp user`` answering ``report`` (None: offline, nothing to ask)."""
    router = inv.routers[name]
    session = SimpleNamespace(send_command=lambda command, **kwargs: report if command == "show snmp user" else "")
    absent = CiscoIosDriver(session).absent_write_only if report is not None else None  # type: ignore[arg-type]
    return assess(CiscoIosDriver, router, running, render(inv, router), "egovadmin", inv.plan.control_ip,
                  inv.noc_networks, absent=absent)


def _snmp_user(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("snmp-server user ")]


@pytest.mark.parametrize("name", LEVELS["cisco_ios"])
def test_ios_snmp_user_is_sent_when_absent_and_the_round_trip_sends_nothing(platforms_inv: Any, name: str) -> None:
    """A day-0 router has no SNMPv3 user (``show snmp user`` prints nothing): the user is sent. The device
    then prints no ``snmp-server user`` line; with ``show snmp user`` listing it, a second push is empty."""
    with speaking(platforms_inv, name, "cisco_ios"):
        first = _ios_push(platforms_inv, name, day0(platforms_inv, name), "")
        assert [line.split()[:4] for line in _snmp_user(first.lines)] == [
            ["snmp-server", "user", "egov-mon", "EGOV-MON"]], name
        printed = after_push("cisco_ios", day0(platforms_inv, name), first.lines)
        assert "snmp-server user" not in printed and "snmp-server group EGOV-MON" in printed
        again = _ios_push(platforms_inv, name, printed, SHOW_SNMP_USER)
        missing = _ios_push(platforms_inv, name, printed, SHOW_SNMP_USER.replace("egov-mon", "someone-else"))
    assert again.lines == [] and again.write_only == [], f"{name}: second push would send {again.lines}"
    assert [line.split()[2] for line in missing.lines] == ["egov-mon"], name  # listed no more: sent again


def test_ios_snmp_user_in_another_group_is_sent(platforms_inv: Any) -> None:
    with speaking(platforms_inv, "d-ios-r1", "cisco_ios"):
        printed = after_push("cisco_ios", day0(platforms_inv, "d-ios-r1"),
                             _ios_push(platforms_inv, "d-ios-r1", day0(platforms_inv, "d-ios-r1"), "").lines)
        moved = _ios_push(platforms_inv, "d-ios-r1", printed, SHOW_SNMP_USER.replace("Group-name: EGOV-MON",
                                                                                     "Group-name: NOC-RO"))
    assert [line.split()[:4] for line in moved.lines] == [["snmp-server", "user", "egov-mon", "EGOV-MON"]]


def test_show_snmp_user_is_read_as_the_device_prints_it() -> None:
    assert CiscoIosDriver.snmp_users(SHOW_SNMP_USER) == {"egov-mon": "EGOV-MON", "noc-ro": "NOC-RO"}
    assert CiscoIosDriver.snmp_users("") == {}


def test_offline_the_write_only_line_is_listed_apart_never_compared(platforms_inv: Any) -> None:
    """With nothing to ask, the SNMPv3 user is neither in the lines nor taken as missing: it is listed apart;
    a running configuration that somehow shows one is never negated."""
    with speaking(platforms_inv, "d-ios-r1", "cisco_ios"):
        plan = _ios_push(platforms_inv, "d-ios-r1", day0(platforms_inv, "d-ios-r1"), None)
        printed = after_push("cisco_ios", day0(platforms_inv, "d-ios-r1"), plan.lines)
        stray = _ios_push(platforms_inv, "d-ios-r1", printed + "snmp-server user old OLD v3\n", None)
    assert _snmp_user(plan.lines) == [] and [line.split()[2] for line in plan.write_only] == ["egov-mon"]
    assert stray.lines == [] and len(stray.write_only) == 1
