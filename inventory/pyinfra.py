"""A pyinfra inventory file built from the egov inventory.

    EGOV_INVENTORY=inventory/lab.yml pyinfra inventory/pyinfra.py deploys/site.py
    pyinfra inventory/pyinfra.py deploys/site.py --limit role_dns

Reads ``$EGOV_INVENTORY`` (default ``inventory/lab.yml``, relative to the working directory) and
defines one module-level group per role, site and level (see ``inventory.pyinfra_bridge``).
"""

import os

from pyinfra.api.exceptions import PyinfraError

from egov.errors import InventoryError
from inventory.loader import load_inventory
from inventory.pyinfra_bridge import pyinfra_groups

try:
    _inv = load_inventory(os.environ.get("EGOV_INVENTORY", "inventory/lab.yml"))
except InventoryError as _exc:
    # pyinfra prints its own errors without a traceback; the problems keep their FILE:LINE form
    raise PyinfraError(f"inventory problems:\n{_exc}") from None

globals().update(pyinfra_groups(_inv))
