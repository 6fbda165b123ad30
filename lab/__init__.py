"""The lab: Docker containers for the inventory's hosts and routers, on internal networks.

``Lab(inventory).up()`` builds what is missing (engine, images, networks, package proxy,
containers, WAN links, host keys) and changes nothing when the lab already matches the
inventory; ``.status()`` and ``.down()`` report and remove. See docs/lab.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from egov.connection import Connection, connection_for
from lab.core import DownReport, Lab, UpReport, down, leftovers

if TYPE_CHECKING:
    from inventory.model import Inventory

__all__ = ["DownReport", "Lab", "UpReport", "connection", "down", "leftovers"]


def connection(inv: Inventory) -> Connection:
    """What deploys, network and verify need to reach the lab's nodes (ARCHITECTURE.md, Lab contract)."""
    return connection_for(inv.path, "lab")
