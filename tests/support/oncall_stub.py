"""The on-call page on loopback, with stand-ins for the two APIs it asks.

Serves a page directory (``monitoring.web.site.site_files``) and answers the page's API paths
(``monitoring.web.site.API``) in Prometheus' and Alertmanager's own shapes (their HTTP API
documentation: ``{"status": "success", "data": {"resultType": "vector", "result": [...]}}`` and
the v2 alert and silence lists) from a ``World``: per site its targets, how many are up and
whether it is reachable, and the alerts. For the benchmark and the page's browser test; the
lab test runs the page against the real servers.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from monitoring.web.site import API
from tests.support.loopback import http_serving

TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css",
         ".json": "application/json", ".md": "text/markdown; charset=utf-8"}


@dataclass
class World:
    """What the stand-in servers report: site -> (targets, up, reachable), each site's WAN (absent:
    no router probed), the alerts (v2 shape) and silences."""

    sites: dict[str, tuple[int, int, bool]]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    silences: list[dict[str, Any]] = field(default_factory=list)
    wan: dict[str, bool] = field(default_factory=dict)
    failing: bool = False  # both servers answer 503, as an unreachable upstream behind nginx does

    def vector(self, expr: str) -> list[dict[str, Any]]:
        """The ``site:`` aggregates; any other query (the CLI's list of down targets) finds nothing."""
        values: dict[str, dict[str, float]] = {
            "site:targets:count": {s: t[0] for s, t in self.sites.items()},
            "site:targets_up:sum": {s: t[1] for s, t in self.sites.items()},
            "site:reachable:max": {s: int(t[2]) for s, t in self.sites.items()},
            "site:wan_reachable:max": {s: int(up) for s, up in self.wan.items()},
        }
        return [{"metric": {"site": s, "job": "node"}, "value": [0, str(v)]} for s, v in values.get(expr, {}).items()]


def alert(name: str, severity: str, site: str, state: str = "active", **extra: Any) -> dict[str, Any]:
    """One alert as Alertmanager's /api/v2/alerts lists it."""
    status = {"state": state, "silencedBy": extra.pop("silenced_by", []), "inhibitedBy": extra.pop("inhibited_by", [])}
    labels = {"alertname": name, "severity": severity, "site": site, **extra}
    return {"labels": labels, "annotations": {"summary": f"{name} at {site}"}, "startsAt": "2026-01-01T00:00:00Z",
            "fingerprint": f"{name}-{site}", "status": status}


@contextmanager
def serve(files: dict[str, str], world: World) -> Iterator[str]:
    """The page's base URL (``http://127.0.0.1:PORT/``) while the block runs."""
    paths = {f"/api/{upstream}{path}": name for name, (upstream, path) in API.items()}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            name = paths.get(url.path)
            if name and world.failing:
                self.send_error(503)
                return
            if name == "prometheus":
                expr = urllib.parse.parse_qs(url.query)["query"][0]
                body: Any = {"status": "success", "data": {"resultType": "vector", "result": world.vector(expr)}}
            elif name in ("alertmanager", "silences"):
                body = world.alerts if name == "alertmanager" else world.silences
            elif (rel := url.path.lstrip("/") or "index.html") in files:
                self._send(files[rel].encode(), TYPES[rel[rel.rindex("."):]])
                return
            else:
                self.send_error(404)
                return
            self._send(json.dumps(body).encode(), "application/json")

        def _send(self, data: bytes, ctype: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    with http_serving(Handler) as port:
        yield f"http://127.0.0.1:{port}/"
