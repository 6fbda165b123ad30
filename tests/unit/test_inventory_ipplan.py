"""The IP plan is stable (sites coming, going or moving in the file never move another site) and has no overlaps."""

from __future__ import annotations

import itertools
from ipaddress import IPv4Network
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from inventory import Inventory, load_inventory

SMALL = Path(__file__).parents[1] / "fixtures" / "inventory" / "small.yml"
BASE = SMALL.read_text(encoding="utf-8")


def commune(index: int) -> str:
    return (f"\n  - name: c{index}\n    level: commune\n    kind: commune_point\n    index: {index}\n"
            f"    parent: tien-yen\n    routers:\n      - {{name: c{index}-r1, slot: {index % 2}, uplinks: [ty-r1]}}\n")


def province(indexes: list[int]) -> Inventory:
    return load_inventory(SMALL, text=BASE + "".join(commune(i) for i in indexes))


def addresses(inv: Inventory) -> dict[str, object]:
    """Every address the plan gives, keyed by what it belongs to."""
    out: dict[str, object] = {}
    for site in inv.sites.values():
        out.update({f"{site.name}/{p}": n for p, n in site.subnets.items()})
    for host in inv.hosts.values():
        out[f"{host.name}/ip"] = (host.mgmt_ip, host.server_ip)
    for router in inv.routers.values():
        out[f"{router.name}/ip"] = (router.loopback, router.mgmt_ip, tuple(sorted(router.lan_ips.items())))
        out.update({f"{router.name}/{i.peer}": (i.name, i.ip) for i in router.interfaces})
    return out


indexes = st.lists(st.integers(0, 255).filter(lambda i: i != 104), min_size=1, max_size=12, unique=True)


@settings(max_examples=40, deadline=None)
@given(indexes, st.data())
def test_adding_or_removing_a_site_moves_nothing_else(chosen: list[int], data: st.DataObject) -> None:
    extra = data.draw(st.integers(0, 255).filter(lambda i: i not in chosen and i != 104), label="added index")
    before = addresses(province(chosen))
    after = addresses(province([*chosen, extra]))
    # everything that existed keeps its address; only the new site's own entries (and its link on ty-r1) appear
    assert {k: v for k, v in after.items() if k in before} == before
    assert all(k.startswith((f"c{extra}/", f"c{extra}-r1/", f"ty-r1/c{extra}-r1")) for k in after if k not in before)


@settings(max_examples=30, deadline=None)
@given(indexes, st.randoms(use_true_random=False))
def test_file_order_does_not_matter(chosen: list[int], rnd: object) -> None:
    shuffled = list(chosen)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert addresses(province(chosen)) == addresses(province(shuffled))


@settings(max_examples=30, deadline=None)
@given(indexes)
def test_no_two_allocations_overlap(chosen: list[int]) -> None:
    inv = province(chosen)
    nets: list[tuple[IPv4Network, str]] = []
    for site in inv.sites.values():
        nets += [(n, f"{site.name} {p}") for p, n in site.subnets.items()]
    nets += [(IPv4Network(r.loopback), f"loopback {r.name}") for r in inv.routers.values()]
    nets += [(link.subnet, link.name) for link in inv.links]
    nets.sort(key=lambda n: (int(n[0].network_address), -n[0].num_addresses))
    for (a, what_a), (b, what_b) in itertools.pairwise(nets):
        assert int(a.broadcast_address) < int(b.network_address), (what_a, what_b)
    assert all(net.subnet_of(inv.plan.supernet) for net, _ in nets)
    pools = list(inv.plan.pools.values())
    assert all(not a.overlaps(b) for i, a in enumerate(pools) for b in pools[i + 1:])


def test_every_site_subnet_sits_in_its_pool_and_level_block() -> None:
    inv = province([0, 1, 255])
    for site in inv.sites.values():
        for purpose, net in site.subnets.items():
            assert net.subnet_of(inv.plan.blocks[(site.level, purpose)])
            assert inv.plan.blocks[(site.level, purpose)].subnet_of(inv.plan.pools[purpose])


def test_addresses_inside_a_subnet() -> None:
    inv = province([])
    dc = inv.sites["dc"]
    assert inv.routers["core1"].lan_ips["server"].ip == dc.subnets["server"][1]    # .1 is the first router
    assert inv.routers["core2"].lan_ips["server"].ip == dc.subnets["server"][2]
    assert inv.hosts["app1"].server_ip == dc.subnets["server"][10]                   # hosts from .10 by slot
    assert inv.hosts["db2"].mgmt_ip == dc.subnets["mgmt"][13]
    assert inv.plan.control_ip == inv.plan.pools["mgmt"].broadcast_address - 1
