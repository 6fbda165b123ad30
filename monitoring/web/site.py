"""The web page's files for one top-level monitoring server: the static page and ``page.json``.

``page.json`` is all the page knows of the inventory (generated at deploy time, so the page
needs no inventory at run time): the map (``topology``), where to ask Prometheus and
Alertmanager (paths of the same nginx, relative to the page) and how often. ``runbooks.md`` is
docs/monitoring.md, whose runbook sections the page shows beside the alerts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitoring.targets import Server
from monitoring.web.topology import topology

if TYPE_CHECKING:
    from inventory.model import Inventory

STATIC = Path(__file__).resolve().parent / "static"
# The runbooks' one home, shipped as it is: the page shows the runbook of each firing alert from it
# (the NOC may have no way to the git host that an alert's runbook_url names).
RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"
# What the page asks: name -> (which server, its API path). nginx proxies exactly these paths, GET
# only (templates/deploys/monitoring/web-site.conf.j2), at ``api/<server><path>`` of the page.
API = {"prometheus": ("prometheus", "/api/v1/query"), "alertmanager": ("alertmanager", "/api/v2/alerts"),
       "silences": ("alertmanager", "/api/v2/silences")}
# States cannot change faster than the rules are evaluated; a faster refresh only adds load.
MIN_REFRESH_SECONDS = 5
_DURATION = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str) -> float:
    """A Prometheus duration (``1m30s``, already checked by monitoring.settings) in seconds."""
    return sum(int(n) * _SECONDS[unit] for n, unit in _DURATION.findall(duration))


def page_data(inv: Inventory, server: Server) -> dict[str, Any]:
    return {
        "province": inv.province.name,
        "monitor": server.name,
        "refresh_seconds": max(MIN_REFRESH_SECONDS, round(seconds(server.settings.evaluation_interval))),
        "api": {name: f"api/{upstream}{path}" for name, (upstream, path) in API.items()},
        "runbook_base": server.settings.runbook_base,
        **topology(inv),
    }


def proxies(server: Server) -> list[tuple[str, str]]:
    """(path of the page, the server's URL on the host itself) for every API path the page asks."""
    ports = {"prometheus": server.settings.prometheus_port, "alertmanager": server.settings.alertmanager_port}
    return [(f"api/{upstream}{path}", f"https://127.0.0.1:{ports[upstream]}{path}") for upstream, path in API.values()]


def static_files() -> dict[str, Path]:
    """The page's files shipped as they are: name in the page's directory -> repository file."""
    return {**{p.name: p for p in sorted(STATIC.iterdir()) if p.is_file()}, "runbooks.md": RUNBOOKS}


def page_json(inv: Inventory, server: Server) -> str:
    return json.dumps(page_data(inv, server), ensure_ascii=False, sort_keys=True, indent=1) + "\n"


def site_files(inv: Inventory, server: Server) -> dict[str, str]:
    """Relative path -> content: every file of the page's directory."""
    return {**{name: p.read_text(encoding="utf-8") for name, p in static_files().items()},
            "page.json": page_json(inv, server)}
