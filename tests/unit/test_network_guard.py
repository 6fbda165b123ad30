"""The lock-out guard on every platform, over what a push would actually send to a day-0 device
(tests/fixtures/network/running/<platform>/day0.cfg, written from the vendors' documentation).

Each lock-out class is its own test: a change that negates the push's own login, the enable secret or
root authentication, the management VRF or instance, its routes or interface, SSH or VTY access, the
console, or leaves AAA without a local fallback, is refused naming the line and the rule; so are a
result that drops SSH, filters out the NOC, shuts the management interface or blackholes the NOC.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address
from typing import Any

import pytest

from inventory import load_inventory
from network.drivers import DRIVERS, driver_class
from network.drivers.scope import FULL
from network.guard import guard, lockout_problems
from network.push import assess
from network.render import render
from network.session import mgmt_interface
from tests.support.day0 import DISTRICT, RUNNING, day0, speaking

CORES = {"frr": "core-frr", "cisco_ios": "core-ios", "huawei_vrp": "core-vrp", "juniper_junos": "core-junos"}
OUTSIDE = IPv4Address("192.0.2.10")
USER = "egovadmin"


@pytest.fixture(scope="module")
def inv() -> Any:
    return load_inventory(RUNNING.parents[1] / "network" / "platforms.yml")


def _result(inv: Any, platform: str, **vars: Any) -> str:
    """The configuration a core router of ``platform`` holds after its first push (with ``vars`` set)."""
    router = inv.routers[CORES[platform]]
    saved = {key: router.layers.values[key] for key in vars if key in router.layers.values}
    router.layers.values.update(vars)
    try:
        plan = assess(driver_class(platform), router, day0(inv, router.name), render(inv, router), USER,
                      inv.plan.control_ip, inv.noc_networks)
    finally:
        for key in vars:
            del router.layers.values[key]
        router.layers.values.update(saved)
    return plan.result


@pytest.mark.parametrize("platform", sorted(CORES))
def test_first_push_result_passes(inv: Any, platform: str) -> None:
    assert lockout_problems(DRIVERS[platform], _result(inv, platform), inv.plan.control_ip, inv.noc_networks) == []


@pytest.mark.parametrize("platform", sorted(CORES))
def test_blackhole_for_the_noc_is_refused(inv: Any, platform: str) -> None:
    noc = inv.noc_networks[0]
    text = _result(inv, platform, network__static_routes=[{"prefix": str(noc), "next_hop": "blackhole"}])
    problems = lockout_problems(DRIVERS[platform], text, inv.plan.control_ip, inv.noc_networks)
    assert len(problems) == 1 and f"static route {noc}" in problems[0]


@pytest.mark.parametrize("platform", ["cisco_ios", "huawei_vrp", "juniper_junos"])
def test_push_from_outside_the_acl_is_refused(inv: Any, platform: str) -> None:
    problems = lockout_problems(DRIVERS[platform], _result(inv, platform), OUTSIDE, inv.noc_networks)
    assert len(problems) == 1 and "SSH would be refused from 192.0.2.10/32" in problems[0]


def test_frr_leaves_ssh_filtering_to_the_host(inv: Any) -> None:
    """vtysh has no SSH ACL (sshd on the router's host filters): only routes and interfaces matter."""
    assert lockout_problems(DRIVERS["frr"], _result(inv, "frr"), OUTSIDE, inv.noc_networks) == []


def test_acl_without_the_noc_is_refused(inv: Any) -> None:
    text = _result(inv, "cisco_ios")
    first = inv.noc_networks[0]
    line = f" permit {first.network_address} {first.hostmask}"
    assert line in text
    problems = lockout_problems(DRIVERS["cisco_ios"], text.replace(line, " permit 192.0.2.0 0.0.0.255"),
                                inv.plan.control_ip, inv.noc_networks)
    assert len(problems) == 1 and str(first) in problems[0]


# ---- what is sent: each lock-out class, from the day-0 configuration -----------------------------

def _refusals(inv: Any, platform: str, old: str, new: str) -> list[str]:
    """The guard's verdict on replacing ``old`` by ``new`` in the district router's day-0 configuration,
    as a full replace would send it (the managed scope would not even produce most of these lines)."""
    with speaking(inv, DISTRICT[platform], platform):
        running = day0(inv, DISTRICT[platform])
    assert old in running, old
    cls = driver_class(platform)
    remediation = cls.remediate(running, running.replace(old, new, 1), FULL)
    assert remediation.lines, "the edit changes nothing"
    return guard(cls, remediation, running, USER, inv.plan.control_ip, inv.noc_networks,
                 mgmt_interface(inv.routers[DISTRICT[platform]], cls))


LOCKOUTS = [
    # (platform, old, new, the line named, the rule named)
    ("cisco_ios", "username egovadmin privilege 15 secret 9", "username other privilege 15 secret 9",
     "'no username egovadmin", "the push's own login"),
    ("cisco_ios", "enable secret 9 $9$", "!", "'no enable secret", "the enable secret"),
    ("cisco_ios", "vrf definition Mgmt-intf\n !\n address-family ipv4\n exit-address-family\n !\n"
     " address-family ipv6\n exit-address-family\n", "", "'no vrf definition Mgmt-intf'", "the management VRF"),
    ("cisco_ios", "ip route vrf Mgmt-intf 0.0.0.0 0.0.0.0 10.22.144.62\n", "",
     "'no ip route vrf Mgmt-intf 0.0.0.0 0.0.0.0 10.22.144.62'", "the management VRF's routes"),
    ("cisco_ios", " vrf forwarding Mgmt-intf\n", "", "'no vrf forwarding Mgmt-intf' (in interface GigabitEthernet0)",
     "the management interface"),
    ("cisco_ios", "line vty 0 4\n exec-timeout 15 0\n transport input ssh",
     "line vty 0 4\n exec-timeout 15 0\n transport input telnet", "(in line vty 0)", "SSH access (the VTY lines)"),
    ("cisco_ios", "line con 0\n exec-timeout 15 0\n stopbits 1\n", "", "'no line con 0'", "the console"),
    ("huawei_vrp", " local-user egovadmin privilege level 15\n", "", "'undo local-user egovadmin privilege level 15'",
     "the push's own login"),
    ("huawei_vrp", " ip route-static 0.0.0.0 0.0.0.0 MEth0/0/0 10.22.144.94\n", "",
     "'undo ip route-static 0.0.0.0 0.0.0.0 MEth0/0/0 10.22.144.94'", "the management routes"),
    ("huawei_vrp", "interface MEth0/0/0\n ip address 10.22.144.65 255.255.255.224",
     "interface MEth0/0/0\n ip address 10.22.144.66 255.255.255.224", "(in interface MEth0/0/0)",
     "the management interface"),
    ("huawei_vrp", " stelnet server enable\n", "", "'undo stelnet server enable'", "SSH access"),
    ("huawei_vrp", " protocol inbound ssh", " protocol inbound telnet", "(in user-interface vty 0 4)",
     "SSH access (the VTY lines)"),
    ("huawei_vrp", "user-interface con 0\n authentication-mode aaa\n", "user-interface con 0\n",
     "'undo authentication-mode aaa' (in user-interface con 0)", "the console"),
    ("huawei_vrpv8", "ip vpn-instance __MGMT_VPN__\n ipv4-family\n", "", "'undo ip vpn-instance __MGMT_VPN__'",
     "the management VRF"),
    ("huawei_vrpv8", " ip binding vpn-instance __MGMT_VPN__\n", "",
     "'undo ip binding vpn-instance __MGMT_VPN__' (in interface MEth0/0/0)", "the management VRF"),
    ("huawei_vrpv8", "ip route-static vpn-instance __MGMT_VPN__ 0.0.0.0 0.0.0.0 10.22.144.94\n", "",
     "'undo ip route-static vpn-instance __MGMT_VPN__ 0.0.0.0 0.0.0.0 10.22.144.94'", "the management routes"),
    ("huawei_vrpv8", "ssh user egovadmin\n", "", "'undo ssh user egovadmin'", "the push's own login"),
    ("juniper_junos", "        user egovadmin {", "        user other {", "'delete system login user egovadmin",
     "the push's own login"),
    ("juniper_junos", "    management-instance;\n", "", "'delete system management-instance'",
     "the management instance"),
    ("juniper_junos", "                route 0.0.0.0/0 next-hop 10.22.144.126;\n", "",
     "'delete routing-instances mgmt_junos routing-options static route 0.0.0.0/0 next-hop 10.22.144.126'",
     "the management instance"),
    ("juniper_junos", "address 10.22.144.97/27;", "address 10.22.144.98/27;",
     "'delete interfaces ge-0/0/7 unit 0 family inet address 10.22.144.97/27'", "the management interface"),
    ("juniper_junos", "        ssh {\n            root-login deny;\n        }\n", "",
     "'delete system services ssh root-login deny'", "SSH access"),
    ("juniper_junos", "    ports {\n        console log-out-on-disconnect;\n    }\n", "",
     "'delete system ports console log-out-on-disconnect'", "the console"),
    ("juniper_junos", "    root-authentication {\n", "    root-authentication-gone {\n",
     "'delete system root-authentication encrypted-password", "the console (root authentication)"),
]


@pytest.mark.parametrize(("platform", "old", "new", "line", "rule"), LOCKOUTS,
                         ids=[f"{p}:{rule}:{n}" for n, (p, _, _, _, rule) in enumerate(LOCKOUTS)])
def test_lockout_line_is_refused_naming_line_and_rule(inv: Any, platform: str, old: str, new: str, line: str,
                                                      rule: str) -> None:
    problems = _refusals(inv, platform, old, new)
    assert any(line in problem and problem.endswith(f"would touch {rule}") for problem in problems), problems


@pytest.mark.parametrize(("platform", "old", "new", "expected"), [
    ("cisco_ios", "aaa authentication login default local", "aaa authentication login default group EGOV-AAA",
     "'aaa authentication login default group EGOV-AAA' has no local fallback"),
    ("cisco_ios", "username egovadmin privilege 15 secret 9", "!username egovadmin privilege 15 secret 9",
     "AAA falls back to local users and the configuration would have none"),
    ("huawei_vrp", " domain default_admin\n", " authentication-scheme EGOV\n  authentication-mode hwtacacs\n"
     " domain default_admin\n  authentication-scheme EGOV\n",
     "'authentication-scheme EGOV / authentication-mode hwtacacs' has no local fallback"),
    ("juniper_junos", "    management-instance;\n", "    management-instance;\n    authentication-order tacplus;\n",
     "has no local fallback (password)"),
])
def test_aaa_without_local_fallback_is_refused(inv: Any, platform: str, old: str, new: str, expected: str) -> None:
    problems = _refusals(inv, platform, old, new)
    assert any(expected in problem for problem in problems), problems


def test_the_first_push_passes_the_guard_on_every_platform(inv: Any) -> None:
    for platform, name in DISTRICT.items():
        with speaking(inv, name, platform) as router:
            plan = assess(driver_class(platform), router, day0(inv, name), render(inv, router), USER,
                          inv.plan.control_ip, inv.noc_networks)
        assert plan.lines and plan.problems == [], (name, plan.problems)


@pytest.mark.parametrize(("platform", "old", "new", "expected"), [
    ("cisco_ios", r"transport input ssh$", "transport input none", "SSH server would be disabled"),
    ("cisco_ios", r"^( +)description management \(out of band\)$", r"\g<0>\n\1shutdown",
     "management interface GigabitEthernet0 would be shut down"),
    ("huawei_vrp", r"^stelnet server enable$", "", "SSH server would be disabled"),
    ("juniper_junos", r"^set system services ssh.*$", "", "SSH server would be disabled"),
])
def test_result_that_drops_ssh_is_refused(inv: Any, platform: str, old: str, new: str, expected: str) -> None:
    text = _result(inv, platform)
    edited = re.sub(old, new, text, flags=re.MULTILINE)
    assert edited != text
    problems = lockout_problems(DRIVERS[platform], edited, inv.plan.control_ip, inv.noc_networks)
    assert any(expected in p for p in problems), problems


# ---- the router's own management port (its model's), not the platform's default ------------------

def _in_port(cls: type[Any], text: str, port: str, line: str) -> str:
    """``text`` with ``line`` added to the management port's section (IOS) or as a set line (Junos)."""
    if cls.platform == "cisco_ios":
        return re.sub(rf"^interface {re.escape(port)}$", f"interface {port}\n {line}", text, count=1,
                      flags=re.MULTILINE)
    return text + f"set interfaces {port} {line}\n"


@pytest.mark.parametrize(("name", "port", "shut"), [
    ("c-ios-r1", "Vlan1", "shutdown"),          # ISR1111: no GigabitEthernet0, management is Vlan1
    ("c-junos-r1", "ge-0/0/7", "disable"),      # SRX300: no fxp0, management is ge-0/0/7
])
def test_a_models_management_port_is_guarded(inv: Any, name: str, port: str, shut: str) -> None:
    router = inv.routers[name]
    cls = driver_class(router.platform)
    assert router.mgmt_interface == port and cls.mgmt_interface != port
    running = day0(inv, name)
    # what is sent: any change inside the model's management port is refused, naming the port
    edited = re.sub(r"(?<=[ \n])10\.22\.\d+\.(\d+)(?=/| 255)", lambda m: m.group(0)[:-len(m.group(1))]
                    + str(int(m.group(1)) + 1), running, count=1)
    remediation = cls.remediate(running, edited, FULL)
    problems = guard(cls, remediation, running, USER, inv.plan.control_ip, inv.noc_networks,
                     mgmt_interface(router, cls))
    assert any(port in problem and problem.endswith("would touch the management interface")
               for problem in problems), problems
    # the platform's default port would have let it through: the model's port is what protects it
    assert not any("management interface" in problem for problem in
                   guard(cls, remediation, running, USER, inv.plan.control_ip, inv.noc_networks))
    # what results: the model's port shut down
    result = _in_port(cls, _result_of(inv, name), port, shut)
    assert f"the management interface {port} would be shut down" in lockout_problems(
        cls, result, inv.plan.control_ip, inv.noc_networks, port)


def _result_of(inv: Any, name: str) -> str:
    router = inv.routers[name]
    cls = driver_class(router.platform)
    return assess(cls, router, day0(inv, name), render(inv, router), USER, inv.plan.control_ip,
                  inv.noc_networks).result


@pytest.mark.parametrize(("name", "port"), [("c-ios-r1", "Vlan1"), ("c-junos-r1", "ge-0/0/7")])
def test_the_scope_never_owns_a_models_management_port(inv: Any, name: str, port: str) -> None:
    """A line on the model's management port that the templates do not render is never negated
    (the scope's {mgmt} is the router's port), while the same line on a rendered WAN port is."""
    router = inv.routers[name]
    cls = driver_class(router.platform)
    running = day0(inv, name)
    extra = "ip nat outside" if cls.platform == "cisco_ios" else "unit 0 family inet filter input DAY0"
    unwanted = ("no ip nat outside" if cls.platform == "cisco_ios"
                else f"delete interfaces {port} unit 0 family inet filter input DAY0")
    plan = assess(cls, router, _in_port(cls, running, port, extra), render(inv, router), USER,
                  inv.plan.control_ip, inv.noc_networks)
    assert not any(line.strip() == unwanted for line in plan.lines), plan.lines
    assert plan.problems == [], plan.problems
