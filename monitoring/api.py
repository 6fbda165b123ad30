"""The HTTP APIs of Prometheus (v1) and Alertmanager (v2), as the on-call tools use them.

Every request goes through one ``Http`` callable (method, URL, JSON body or None) so tests and
other callers can inject their own transport. A server that cannot be asked (refused, timed
out, an answer that is not the API's) is ``Unreachable``, naming the server: the status view
reports it as UNKNOWN, never as an incident.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from egov.errors import MonitoringError

Http = Callable[[str, str, Any], Any]


class Unreachable(MonitoringError):
    """Prometheus or Alertmanager could not be asked; ``server`` is its kind, ``url`` its address.

    Exit code 3: a Nagios-style check's UNKNOWN (the state could not be read).
    """

    exit_code = 3

    def __init__(self, server: str, url: str, reason: str) -> None:
        super().__init__(f"{server} cannot be asked: {reason}")
        self.server, self.url, self.reason = server, url, reason


def http_json(method: str, url: str, body: Any = None, timeout: float = 5.0, ca_file: str | None = None,
              auth: tuple[str, str] | None = None) -> Any:
    """One JSON request; MonitoringError naming the URL (without its query) when it fails.

    + ca_file: the CA an HTTPS server's certificate must chain to (None: the system's)
    + auth: (user, password) for basic auth, sent over HTTPS only: never in clear
    """
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if auth and url.startswith("https://"):
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    context = ssl.create_default_context(cafile=ca_file) if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:  # the server answered: say what it said (Alertmanager's reason)
        detail = exc.read().decode(errors="replace").strip()[:300]
        raise MonitoringError(f"{url.split('?')[0]}: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise MonitoringError(f"{url.split('?')[0]}: {getattr(exc, 'reason', exc)}") from None
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        raise MonitoringError(f"{url.split('?')[0]}: answer is not JSON") from None


def client(ca_file: str | None, user: str, password: str) -> Http:
    """An ``Http`` that asks as ``user`` (basic auth over HTTPS), the servers' certificates checked
    against ``ca_file``: how the on-call tools ask the platform's Prometheus and Alertmanager."""
    def http(method: str, url: str, body: Any = None) -> Any:
        return http_json(method, url, body, ca_file=ca_file, auth=(user, password))
    return http


def _ask(http: Http, server: str, base: str, method: str, path: str, body: Any = None) -> Any:
    try:
        return http(method, base.rstrip("/") + path, body)
    except MonitoringError as exc:
        raise Unreachable(server, base, str(exc)) from None


def query(prometheus: str, expr: str, http: Http = http_json) -> list[dict[str, Any]]:
    """An instant query's vector (``/api/v1/query``)."""
    data = _ask(http, "Prometheus", prometheus, "GET", "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if not isinstance(data, dict) or data.get("status") != "success":
        error = data.get("error") if isinstance(data, dict) else data
        raise Unreachable("Prometheus", prometheus, f"{prometheus}: query {expr!r} failed: {error}")
    return list(data["data"]["result"])


def alerts(alertmanager: str, http: Http = http_json, filters: list[str] | None = None) -> list[dict[str, Any]]:
    """Every active alert, silenced and inhibited ones included (each has ``status``); ``filters``:
    Alertmanager's own matchers (``alertname="HostDown"``), every one must match."""
    params = urllib.parse.urlencode([("active", "true"), ("silenced", "true"), ("inhibited", "true"),
                                     *(("filter", f) for f in filters or [])])
    raw = _ask(http, "Alertmanager", alertmanager, "GET", f"/api/v2/alerts?{params}")
    if not isinstance(raw, list):
        raise Unreachable("Alertmanager", alertmanager, f"{alertmanager}/api/v2/alerts: not a list")
    return raw


def silences(alertmanager: str, http: Http = http_json) -> list[dict[str, Any]]:
    """Every silence Alertmanager knows (active, pending and expired)."""
    raw = _ask(http, "Alertmanager", alertmanager, "GET", "/api/v2/silences")
    if not isinstance(raw, list):
        raise Unreachable("Alertmanager", alertmanager, f"{alertmanager}/api/v2/silences: not a list")
    return raw


def post_silence(alertmanager: str, silence: dict[str, Any], http: Http = http_json) -> str:
    """Create a silence (``POST /api/v2/silences``); returns its id."""
    try:
        raw = http("POST", alertmanager.rstrip("/") + "/api/v2/silences", silence)
    except MonitoringError as exc:
        if "HTTP 4" in str(exc):  # refused (a bad matcher): the caller's mistake, not an outage
            raise
        raise Unreachable("Alertmanager", alertmanager, str(exc)) from None
    if not isinstance(raw, dict) or not raw.get("silenceID"):
        raise Unreachable("Alertmanager", alertmanager, f"{alertmanager}/api/v2/silences: no silenceID in {raw!r}")
    return str(raw["silenceID"])
