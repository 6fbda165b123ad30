"""The province's whole WAN in the lab: the FRR lab copy of inventory/quangninh.yml and its
routers-only plan (no Docker). The 198-router lab itself is too slow for CI; docs/lab.md says how
to bring it up and what it measured."""

from __future__ import annotations

import re
from collections import Counter
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from click.testing import CliRunner

from commands.lab import lab_group
from egov.errors import InventoryError
from inventory import load_inventory
from lab.engine import NODE_MEMORY_MIB, memory_problem
from lab.frr_copy import write_frr_copy
from lab.layout import plan_lab

QUANGNINH = Path(__file__).resolve().parents[2] / "inventory" / "quangninh.yml"
SUPERNET = IPv4Network("10.103.0.0/16")
IFNAMSIZ = 15  # Linux: an interface name has at most 15 characters (IFNAMSIZ 16 with its NUL)


@pytest.fixture(scope="module")
def source():
    return load_inventory(QUANGNINH)


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    out = tmp_path_factory.mktemp("province") / "qn-lab.yml"
    report = write_frr_copy(QUANGNINH, out, str(SUPERNET))
    return report, load_inventory(out)


def _moved(address: IPv4Address, source: IPv4Network) -> IPv4Address:
    return IPv4Address(int(address) - int(source.network_address) + int(SUPERNET.network_address))


def test_the_copy_is_the_whole_province_as_frr_in_the_lab(source, copy) -> None:
    report, inv = copy
    assert (report.routers, report.links) == (198, 290)  # the figures issue 11 gives for the province
    assert (len(inv.routers), len(inv.links), len(inv.sites)) == (len(source.routers), len(source.links),
                                                                   len(source.sites))
    assert inv.environment == "lab" and inv.plan.supernet == SUPERNET
    assert {router.platform for router in inv.routers.values()} == {"frr"}
    assert all(router.vars["network__ospf_dead"] == 3 and router.vars["network__ospf_hello"] == 1
               for router in inv.routers.values())


def test_every_address_keeps_its_place_in_the_plan(source, copy) -> None:
    _, inv = copy
    old = source.plan.supernet
    for name, router in source.routers.items():
        assert inv.routers[name].loopback == _moved(router.loopback, old)
        assert inv.routers[name].mgmt_ip == _moved(router.mgmt_ip, old)
        assert inv.routers[name].uplinks == router.uplinks
    for link, theirs in zip(inv.links, source.links, strict=True):
        assert (link.a.router, link.b.router) == (theirs.a.router, theirs.b.router)
        assert link.subnet.network_address == _moved(theirs.subnet.network_address, old)
    # a variable holding an address of the plan moves with it (the NOC's user LAN)
    assert [n for n in inv.noc_networks if not n.subnet_of(SUPERNET)] == []
    assert inv.plan.control_ip == _moved(source.plan.control_ip, old)


def test_the_copy_keeps_the_sources_comments_under_a_header(copy) -> None:
    report, _ = copy
    text = report.path.read_text(encoding="utf-8")
    assert text.startswith("# Lab copy of ") and "# Quảng Ninh: the provincial e-government platform" in text
    body = [line.split("#")[0] for line in text.splitlines()]  # what the file says, not its comments
    assert not [line for line in body if re.search(r"platform: (?!frr\b)|model: |10\.22\.", line)]


def test_the_routers_only_plan_is_every_router_and_link_on_one_network(copy) -> None:
    _, inv = copy
    plan = plan_lab(inv, "qn", routers_only=True)
    assert Counter(node.kind for node in plan.nodes.values()) == {"router": 198}
    assert [net.purpose for net in plan.networks] == ["mgmt"] and len(plan.veths) == 290
    mgmt = plan.network("mgmt")
    addresses = [node.mgmt_ip for node in plan.nodes.values()]
    assert len(set(addresses)) == 198 and all(ip in mgmt.subnet and ip != mgmt.gateway for ip in addresses)
    assert len({node.container for node in plan.nodes.values()}) == 198
    ends = Counter((node, ifname) for veth in plan.veths
                   for node, ifname in ((veth.a, veth.a_ifname), (veth.b, veth.b_ifname)))
    assert max(ends.values()) == 1  # no router has two links on one interface name
    assert all(node in plan.nodes and len(ifname) <= IFNAMSIZ for node, ifname in ends)
    assert plan_lab(inv, "qn").nodes.keys() > plan.nodes.keys()  # without the flag the hosts are there too


def test_the_province_fits_this_machine_at_the_documented_budget(copy, tmp_path) -> None:
    _, inv = copy
    routers = {"router": len(inv.routers)}
    assert NODE_MEMORY_MIB["router"] * len(inv.routers) < 12 * 1024  # half of this 24 GiB machine
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683520 kB\nMemAvailable:   16777216 kB\n")
    assert memory_problem(routers, meminfo) is None
    meminfo.write_text("MemTotal:       24683520 kB\nMemAvailable:    4194304 kB\n")
    problem = memory_problem(routers, meminfo)
    assert problem is not None and "198 routers need about 7920 MiB" in problem and "4096 MiB available" in problem


def test_a_copy_of_another_prefix_length_or_onto_its_source_is_refused(tmp_path) -> None:
    with pytest.raises(InventoryError, match=r"10\.22\.0\.0/16 is a /16.*10\.103\.0\.0/17"):
        write_frr_copy(QUANGNINH, tmp_path / "x.yml", "10.103.0.0/17")
    with pytest.raises(InventoryError, match="overwrite its source"):
        write_frr_copy(QUANGNINH, QUANGNINH, "10.103.0.0/16")
    assert not (tmp_path / "x.yml").exists()


def test_frr_copy_command_reports_one_clear_error(tmp_path) -> None:
    result = CliRunner().invoke(lab_group, ["frr-copy", str(QUANGNINH), str(tmp_path / "x.yml"),
                                            "--supernet", "10.103.0.300/16"])
    assert result.exit_code == 2 and "--supernet '10.103.0.300/16': not an IPv4 network" in result.output
    assert "Traceback" not in result.output
    ok = CliRunner().invoke(lab_group, ["frr-copy", str(QUANGNINH), str(tmp_path / "y.yml"), "--supernet",
                                        str(SUPERNET), "--json"])
    assert ok.exit_code == 0 and '"routers": 198' in ok.output and '"links": 290' in ok.output
