"""Router configuration drift for the egov exporter: running versus intended, from the push's
own diff (``network.push.diff``: the exact lines a push would send).

A diff logs into every router, so it never runs per scrape: either the exporter calls
``network_drift`` from a background collector (``egov monitor exporter --inventory``), or a timer
runs ``egov monitor drift --out FILE`` and the deployed exporter reads that file
(``monitoring__drift_file``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from egov.errors import MonitoringError
from inventory.model import Inventory
from network.push import Options, diff, routers_for

log = logging.getLogger(__name__)


def network_drift(inv: Inventory, limits: Iterable[str] = (), secrets_path: str | None = None,
                  workers: int = 20) -> dict[str, int]:
    """Router -> number of lines that differ. Routers that could not be read are left out (the
    metric disappears, so a stale "no drift" is never shown); none readable is an error."""
    routers = routers_for(inv, limits)
    result = diff(inv, routers, Options.for_inventory(inv, secrets_path, workers=workers))
    for name in result.failed_targets:
        log.warning("drift of %s unknown: %s", name, result[name].error)
    if routers and len(result.failed_targets) == len(routers):
        raise MonitoringError(f"no router could be read for drift (first error: {result[routers[0].name].error})")
    return {name: int(r.data.get("lines", 0)) for name, r in result.items() if not r.failed}


def write_drift_file(drift: dict[str, int], path: str | Path) -> None:
    """Replace the file atomically, so the exporter never reads half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(drift, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o644)
    tmp.replace(path)
