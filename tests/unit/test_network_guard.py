"""The lock-out guard on every platform: the rendered configurations pass; a configuration that
drops SSH, filters out the NOC, shuts the management interface or blackholes the NOC is refused."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from inventory import load_inventory
from network.drivers import DRIVERS
from network.guard import lockout_problems
from network.render import render

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "network"
CORES = {"frr": "core-frr", "cisco_ios": "core-ios", "huawei_vrp": "core-vrp", "juniper_junos": "core-junos"}
OUTSIDE = IPv4Address("192.0.2.10")


@pytest.fixture(scope="module")
def inv() -> Any:
    return load_inventory(FIXTURES / "platforms.yml")


def _config(inv: Any, platform: str, **vars: Any) -> str:
    router = inv.routers[CORES[platform]]
    saved = {key: router.layers.values[key] for key in vars if key in router.layers.values}
    router.layers.values.update(vars)
    try:
        return render(inv, router)
    finally:
        for key in vars:
            del router.layers.values[key]
        router.layers.values.update(saved)


@pytest.mark.parametrize("platform", sorted(DRIVERS))
def test_rendered_configuration_passes(inv: Any, platform: str) -> None:
    assert lockout_problems(DRIVERS[platform], _config(inv, platform), inv.plan.control_ip, inv.noc_networks) == []


@pytest.mark.parametrize("platform", sorted(DRIVERS))
def test_blackhole_for_the_noc_is_refused(inv: Any, platform: str) -> None:
    noc = inv.noc_networks[0]
    text = _config(inv, platform, network__static_routes=[{"prefix": str(noc), "next_hop": "blackhole"}])
    problems = lockout_problems(DRIVERS[platform], text, inv.plan.control_ip, inv.noc_networks)
    assert len(problems) == 1 and f"static route {noc}" in problems[0]


@pytest.mark.parametrize("platform", ["cisco_ios", "huawei_vrp", "juniper_junos"])
def test_push_from_outside_the_acl_is_refused(inv: Any, platform: str) -> None:
    problems = lockout_problems(DRIVERS[platform], _config(inv, platform), OUTSIDE, inv.noc_networks)
    assert len(problems) == 1 and "SSH would be refused from 192.0.2.10/32" in problems[0]


def test_frr_leaves_ssh_filtering_to_the_host(inv: Any) -> None:
    """vtysh has no SSH ACL (sshd on the router's host filters): only routes and interfaces matter."""
    assert lockout_problems(DRIVERS["frr"], _config(inv, "frr"), OUTSIDE, inv.noc_networks) == []


@pytest.mark.parametrize("platform, old, new, expected", [
    ("cisco_ios", " transport input ssh", " transport input none", "SSH server would be disabled"),
    ("cisco_ios", "description management (out of band)\n", "description management (out of band)\n shutdown\n",
     "management interface GigabitEthernet0 would be shut down"),
    ("huawei_vrp", "stelnet server enable\n", "", "SSH server would be disabled"),
    ("frr", "interface lo\n", "interface eth0\n shutdown\nexit\n!\ninterface lo\n",
     "management interface eth0 would be shut down"),
    ("juniper_junos", "        ssh {\n            protocol-version v2;\n        }\n", "",
     "SSH server would be disabled"),
])
def test_edited_configuration_is_refused(inv: Any, platform: str, old: str, new: str, expected: str) -> None:
    text = _config(inv, platform)
    assert old in text
    # every occurrence: IOS XE has two VTY sections (0 4, 5 15)
    problems = lockout_problems(DRIVERS[platform], text.replace(old, new), inv.plan.control_ip, inv.noc_networks)
    assert any(expected in p for p in problems), problems


def test_acl_without_the_noc_is_refused(inv: Any) -> None:
    text = _config(inv, "cisco_ios")
    first = inv.noc_networks[0]
    line = f" permit {first.network_address} {first.hostmask}"
    assert line in text
    problems = lockout_problems(DRIVERS["cisco_ios"], text.replace(line, " permit 192.0.2.0 0.0.0.255"),
                                inv.plan.control_ip, inv.noc_networks)
    assert len(problems) == 1 and str(first) in problems[0]
