"""A lab copy of a province inventory: the whole WAN as FRR routers on this machine.

The copy keeps every site, router, uplink and host of the source (the IP plan, the links and the
Tier 3 rule stay exactly the province's), and changes only what a lab needs:

- ``environment: lab``, so ``egov lab`` builds it and every command connects the lab's way;
- every router's platform is ``frr`` (the lab's routers are FRR containers) and its model is dropped;
- every address of the source's supernet moves by the same offset into ``supernet`` (the plan, site
  subnets, NOC networks, any variable holding one), so the lab runs beside another lab of the source;
- OSPF on the lab's fast timers (hello 1 s, dead 3 s, as benchmarks/network.py's labs): a push's
  post-check waits one dead interval, and the province's 40 s would make every push wait 40 s.

Comments of the source stay (ruamel round trip); a header says what the file is.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network
from pathlib import Path
from typing import Any

from egov.errors import InventoryError
from inventory import load_inventory
from inventory.source import read_text, round_trip_yaml

PLATFORM = "frr"
PLATFORM_KEYS = ("platform", "router__platform")
MODEL_KEYS = ("model", "router__model")
# the lab's OSPF timers (docs/lab.md "The province's WAN"): fast convergence, short post-check waits
LAB_DEFAULTS = {"network__ospf_hello": 1, "network__ospf_dead": 3}


@dataclass
class CopyReport:
    """What was written: the copy's path and the size of its WAN."""

    path: Path
    source: Path
    supernet: str
    routers: int
    links: int
    hosts: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "source": str(self.source), "supernet": self.supernet,
                "routers": self.routers, "links": self.links, "hosts": self.hosts}


def _moved(value: str, old: IPv4Network, new: IPv4Network) -> str:
    """``value`` moved from ``old`` into ``new`` when it is an address or network of ``old``, else unchanged."""
    offset = int(new.network_address) - int(old.network_address)
    try:
        if "/" in value:
            net = ip_network(value, strict=False)
            if isinstance(net, IPv4Network) and net.subnet_of(old):
                return str(IPv4Network((int(net.network_address) + offset, net.prefixlen)))
        else:
            addr = ip_address(value)
            if isinstance(addr, IPv4Address) and addr in old:
                return str(IPv4Address(int(addr) + offset))
    except ValueError:
        pass
    return value


def _rewrite(node: Any, old: IPv4Network, new: IPv4Network) -> Any:
    """The tree with platforms set to FRR, models and OSPF timers dropped (the copy sets the lab's once,
    for every site) and addresses moved (in place)."""
    if isinstance(node, dict):
        for key in list(node):
            if key in MODEL_KEYS or key in LAB_DEFAULTS:
                del node[key]
            elif key in PLATFORM_KEYS and isinstance(node[key], str):
                node[key] = PLATFORM
            else:
                node[key] = _rewrite(node[key], old, new)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            node[i] = _rewrite(item, old, new)
    elif isinstance(node, str):
        moved = _moved(node, old, new)
        return node if moved == node else moved
    return node


def frr_copy_text(source: Path, supernet: IPv4Network) -> str:
    """The lab copy of ``source`` as YAML text, checked by loading it (an InventoryError naming the
    source when the copy would not load)."""
    source_inv = load_inventory(source)
    old = source_inv.plan.supernet
    if old.prefixlen != supernet.prefixlen:
        raise InventoryError(f"{source}: its supernet {old} is a /{old.prefixlen}; the lab copy's must be one "
                             f"too (given {supernet}), so that every address keeps its place in the plan")
    yaml = round_trip_yaml()
    tree = yaml.load(io.StringIO(read_text(source)))
    _rewrite(tree, old, supernet)
    tree["environment"] = "lab"
    if tree.get("defaults") is None:
        tree["defaults"] = {}
    tree["defaults"].update(LAB_DEFAULTS)
    out = io.StringIO()
    out.write(f"# Lab copy of {source} written by `egov lab frr-copy`: every router FRR, addresses moved\n"
              f"# from {old} to {supernet}, OSPF on the lab's timers (lab/frr_copy.py). Do not edit: write it again.\n")
    yaml.dump(tree, out)
    return out.getvalue()


def write_frr_copy(source: str | Path, out: str | Path, supernet: str) -> CopyReport:
    """Write the lab copy of ``source`` to ``out`` and say what it holds."""
    source, out = Path(source), Path(out)
    try:
        net = IPv4Network(supernet)
    except ValueError as exc:
        raise InventoryError(f"--supernet {supernet!r}: not an IPv4 network ({exc})") from None
    if out.resolve() == source.resolve():
        raise InventoryError(f"{out}: the copy would overwrite its source")
    text = frr_copy_text(source, net)
    copy = load_inventory(out, text=text)  # raises, naming the copy's lines, before anything is written
    out.write_text(text, encoding="utf-8")
    return CopyReport(out, source, str(net), len(copy.routers), len(copy.links), len(copy.hosts))
