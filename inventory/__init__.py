"""The province as data: a typed, validated model loaded from ``inventory/*.yml``.

The contract other packages code against is in docs/ARCHITECTURE.md ("The inventory API").
"""

from inventory.ipplan import IPPlan
from inventory.loader import load_inventory
from inventory.model import Endpoint, Host, Interface, Inventory, LanInterface, Level, Link, Province, Router, Site

__all__ = ["Endpoint", "Host", "IPPlan", "Interface", "Inventory", "LanInterface", "Level", "Link", "Province",
           "Router", "Site", "load_inventory"]
