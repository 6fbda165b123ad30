"""The IP plan: every address follows from the plan's sizes and stable keys, never from list position.

Layout. The supernet is cut into one pool per purpose (``mgmt``, ``loopback``, ``p2p``, ``server``,
``user``); each pool into one block per level, sized ``max_sites x unit`` (both rounded up to a power
of two so every block and pool is a CIDR). Blocks and pools are placed largest first, which keeps each
one aligned. The layout depends only on the plan section and the levels, so it only moves when
someone changes those sizes on purpose.

Inside a level's block, a site with index ``i`` owns the ``i``-th unit:
  - ``mgmt``/``server``/``user``: one subnet of the level's prefix length;
  - ``loopback``: ``max_routers`` /32s, one per router slot;
  - ``p2p``: ``max_routers x max_uplinks`` /31s; a router's uplink ``u`` uses the /31 number
    ``slot x max_uplinks + u``. The parent router takes the first address, the child the second.
Inside a subnet: ``.1 + slot`` for routers (``.1`` is the gateway: the site's first router),
``.10 + slot`` for hosts. The mgmt pool keeps its last four addresses free; the one before the
broadcast is ``control_ip``, the control machine's (or the lab bridge's) address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import TYPE_CHECKING

from inventory.schema import PURPOSES, SUBNET_PURPOSES

if TYPE_CHECKING:
    from inventory.model import Level, Site

ROUTER_OFFSET = 1   # routers at .1 + slot
HOST_OFFSET = 10    # hosts at .10 + slot
CONTROL_RESERVE = 4  # addresses kept free at the top of the mgmt pool


def pow2(n: int) -> int:
    """The smallest power of two >= n (n >= 1)."""
    return 1 << max(n - 1, 0).bit_length()


def unit_size(level: Level, purpose: str) -> int:
    """How many addresses one site of ``level`` owns in the ``purpose`` pool (0: none)."""
    if purpose in SUBNET_PURPOSES:
        prefix = level.subnets.get(purpose)
        return 0 if prefix is None else 1 << (32 - prefix)
    if purpose == "loopback":
        return pow2(level.max_routers)
    if level.max_uplinks == 0:  # p2p
        return 0
    return pow2(level.max_routers) * pow2(level.max_uplinks) * 2


@dataclass
class IPPlan:
    """Pools and per-level blocks of one inventory; site addresses are derived on demand."""

    supernet: IPv4Network
    pools: dict[str, IPv4Network]
    blocks: dict[tuple[str, str], IPv4Network]   # (level, purpose) -> block
    control_ip: IPv4Address
    levels: dict[str, Level]
    needed: int   # addresses the layout needs
    sites: list[Site] = field(default_factory=list)

    def _start(self, level: str, purpose: str, index: int) -> tuple[int, int] | None:
        """(first address as int, size) of the ``index``-th unit of a level's block; None if the level has none or
        the index is outside the block (validation reports that). Integers: this runs for every router and link."""
        block = self.blocks.get((level, purpose))
        size = unit_size(self.levels[level], purpose)
        if block is None or index >= block.num_addresses // size:
            return None
        return int(block.network_address) + index * size, size

    def unit(self, level: str, purpose: str, index: int) -> IPv4Network | None:
        """The ``index``-th unit of a level's block: a site subnet, or a site's loopback or p2p range."""
        found = self._start(level, purpose, index)
        return None if found is None else IPv4Network((found[0], 33 - found[1].bit_length()))

    def loopback(self, level: str, index: int, slot: int) -> IPv4Address | None:
        found = self._start(level, "loopback", index)
        return None if found is None or slot >= found[1] else IPv4Address(found[0] + slot)

    def link(self, level: str, index: int, slot: int, uplink: int) -> IPv4Network | None:
        """The /31 of a child router's uplink number ``uplink``."""
        found = self._start(level, "p2p", index)
        number = slot * pow2(self.levels[level].max_uplinks) + uplink
        if found is None or (number + 1) * 2 > found[1]:
            return None
        return IPv4Network((found[0] + number * 2, 31))

    def rows(self) -> list[tuple[str, str, IPv4Network]]:
        """(site, purpose, network) for every site in file order: its subnets, then the loopback and p2p
        ranges its router slots own (sites without routers own none)."""
        out: list[tuple[str, str, IPv4Network]] = []
        for site in self.sites:
            out.extend((site.name, purpose, network) for purpose, network in site.subnets.items())
            if site.routers:
                for purpose in ("loopback", "p2p"):
                    unit = self.unit(site.level, purpose, site.index)
                    if unit is not None:
                        out.append((site.name, purpose, unit))
        return out


def address(subnet: IPv4Network, offset: int) -> IPv4Address | None:
    """The address ``offset`` into ``subnet``, or None if it is not a usable host address there."""
    if offset <= 0 or offset >= subnet.num_addresses - 1:
        return None
    return subnet[offset]


def interface(subnet: IPv4Network, offset: int) -> IPv4Interface | None:
    ip = address(subnet, offset)
    return None if ip is None else IPv4Interface((ip, subnet.prefixlen))


def layout(supernet: IPv4Network, levels: list[Level], control_ip: IPv4Address | None) -> IPPlan:
    """Place pools and level blocks; never fails (``needed`` > supernet size is reported by validation)."""
    pool_blocks: dict[str, list[tuple[str, int]]] = {}
    pool_sizes: dict[str, int] = {}
    for purpose in PURPOSES:
        blocks = [(lvl.name, pow2(lvl.max_sites) * unit_size(lvl, purpose)) for lvl in levels]
        blocks = [b for b in blocks if b[1] > 0]
        total = sum(size for _, size in blocks) + (CONTROL_RESERVE if purpose == "mgmt" else 0)
        if blocks:
            pool_blocks[purpose] = sorted(blocks, key=lambda b: -b[1])  # stable sort: ties keep level order
            pool_sizes[purpose] = pow2(total)
    start = int(supernet.network_address)
    pools: dict[str, IPv4Network] = {}
    blocks_out: dict[tuple[str, str], IPv4Network] = {}
    for purpose in sorted(pool_sizes, key=lambda p: -pool_sizes[p]):
        size = pool_sizes[purpose]
        if start + size > int(supernet.broadcast_address) + 1:
            break  # the supernet is too small (validation says so); placing further would leave it unaligned
        pools[purpose] = IPv4Network((start, 32 - (size.bit_length() - 1)))
        offset = start
        for level, block_size in pool_blocks[purpose]:
            blocks_out[(level, purpose)] = IPv4Network((offset, 32 - (block_size.bit_length() - 1)))
            offset += block_size
        start += size
    needed = sum(pool_sizes.values())
    if control_ip is None and "mgmt" in pools:
        control_ip = pools["mgmt"].broadcast_address - 1
    return IPPlan(supernet=supernet, pools=pools, blocks=blocks_out,
                  control_ip=control_ip or supernet.network_address,  # no mgmt pool: reported as too small
                  levels={lvl.name: lvl for lvl in levels}, needed=needed)
