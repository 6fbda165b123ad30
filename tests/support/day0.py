"""Day-0 running configurations (tests/fixtures/network/running/<platform>/day0.cfg, written from the
vendors' documentation) as any router of tests/fixtures/network/platforms.yml would print them.

Each fixture is the district router's of its platform (d-ios-r1, d-vrp-r1, d-junos-r1; FRR's is what
FRR 8.4 printed on the lab). For another router, its name, management address and the management
gateway (the last address of its management subnet) take the district router's places, as a field
technician's day-0 set-up would give them, and the fixture's management port (the platform's
default one) is renamed to the router's model's (an SRX300 has no fxp0: its ge-0/0/7 is management);
the rest is what the device ships with.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from network.drivers import driver_class

RUNNING = Path(__file__).resolve().parents[1] / "fixtures" / "network" / "running"
DISTRICT = {"cisco_ios": "d-ios-r1", "huawei_vrp": "d-vrp-r1", "huawei_vrpv8": "d-vrp-r1",
            "juniper_junos": "d-junos-r1"}
VRP = ("core-vrp", "d-vrp-r1", "c-vrp-r1")
# the core, district and commune router of each platform (VRP V8 as the VRP routers speaking V8: `speaking`)
LEVELS = {"cisco_ios": ("core-ios", "d-ios-r1", "c-ios-r1"), "huawei_vrp": VRP, "huawei_vrpv8": VRP,
          "juniper_junos": ("core-junos", "d-junos-r1", "c-junos-r1"), "frr": ("core-frr", "d-frr-r1", "c-frr-r1")}


@contextmanager
def speaking(inv: Any, name: str, platform: str) -> Iterator[Any]:
    """Router ``name`` as a ``platform`` router while the block runs (VRP V8 for a VRP one: same
    configuration language, same interface names)."""
    router = inv.routers[name]
    before = router.layers.values.get("router__platform")
    router.layers.values["router__platform"] = platform
    try:
        yield router
    finally:
        if before is None:
            del router.layers.values["router__platform"]
        else:
            router.layers.values["router__platform"] = before


def fixture(platform: str, name: str = "day0") -> str:
    return (RUNNING / platform / f"{name}.cfg").read_text(encoding="utf-8")


def _facts(inv: Any, name: str) -> dict[str, str]:
    router = inv.routers[name]
    net = inv.sites[router.site].subnets["mgmt"]
    return {"name": name, "ip": str(router.mgmt_ip), "mask": str(net.netmask), "len": str(net.prefixlen),
            "gateway": str(net.broadcast_address - 1)}


def day0(inv: Any, name: str) -> str:
    """The day-0 configuration router ``name`` prints (its platform's fixture, its own address)."""
    router = inv.routers[name]
    if router.platform not in DISTRICT:
        return fixture(router.platform)
    text = fixture(router.platform)
    old, new = _facts(inv, DISTRICT[router.platform]), _facts(inv, name)
    for spelling in ("{ip} {mask}", "{ip}/{len}", " {gateway}", " {name}"):
        text = text.replace(spelling.format(**old), spelling.format(**new))
    port = driver_class(router.platform).mgmt_interface
    if router.mgmt_interface not in ("", "?", port):
        text = re.sub(rf"(?<![\w/.-]){re.escape(port)}(?![\w/.-])", router.mgmt_interface, text)
    return text


# The negations a first push from day 0 sends on purpose: enabling ports, and the rendered
# hardening said as negations (CDP/LLDP off on WAN ports, no HTTP server)
FIRST_PUSH_NEGATIONS = {"no shutdown", "undo shutdown", "no ip domain lookup",
                        "no cdp enable", "no lldp transmit", "no lldp receive", "undo lldp enable",
                        "no ip http server", "no ip http secure-server", "undo http server enable",
                        "undo http secure-server enable"}
