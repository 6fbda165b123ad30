"""The on-call view: per site, targets up and down, firing alerts by severity, WAN reachability.

Reads Prometheus' HTTP API (the ``site:`` recording rules, which a province server also has for
federated districts, and the targets that are down) and Alertmanager's (active alerts that are
neither silenced nor inhibited). ``critical`` is true when a critical alert fires.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from egov.errors import MonitoringError
from monitoring.rules import PROBE_JOBS

Fetch = Callable[[str], Any]


def fetch_json(url: str, timeout: float = 5.0) -> Any:
    """GET a JSON document; MonitoringError naming the URL when it cannot be had."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise MonitoringError(f"{url.split('?')[0]}: {reason}") from None


@dataclass
class SiteStatus:
    site: str
    level: str = ""
    targets_up: int = 0
    targets_total: int = 0
    down: list[str] = field(default_factory=list)
    alerts: dict[str, int] = field(default_factory=dict)
    wan: bool | None = None  # None: the site has no router probed

    @property
    def targets_down(self) -> int:
        return self.targets_total - self.targets_up


@dataclass
class StatusReport:
    prometheus: str
    alertmanager: str
    sites: list[SiteStatus]
    alerts: list[dict[str, Any]]

    @property
    def critical(self) -> bool:
        return any(a["severity"] == "critical" for a in self.alerts)

    def to_dict(self) -> dict[str, Any]:
        return {"prometheus": self.prometheus, "alertmanager": self.alertmanager, "critical": self.critical,
                "sites": [{**asdict(s), "targets_down": s.targets_down} for s in self.sites],
                "alerts": self.alerts}


def _query(fetch: Fetch, prometheus: str, expr: str) -> list[dict[str, Any]]:
    data = fetch(f"{prometheus.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if not isinstance(data, dict) or data.get("status") != "success":
        error = data.get("error") if isinstance(data, dict) else data
        raise MonitoringError(f"{prometheus}: query {expr!r} failed: {error}")
    return list(data["data"]["result"])


def collect_status(prometheus: str, alertmanager: str, site: str | None = None,
                   order: list[str] | None = None, fetch: Fetch = fetch_json) -> StatusReport:
    """Ask both servers and build the per-site view (``order``: inventory order of sites)."""
    sites: dict[str, SiteStatus] = {}

    def of(labels: dict[str, str]) -> SiteStatus | None:
        name = labels.get("site", "")
        if not name or (site and name != site):
            return None
        st = sites.setdefault(name, SiteStatus(name))
        st.level = st.level or labels.get("level", "")
        return st

    for row in _query(fetch, prometheus, "site:targets:count"):
        if (st := of(row["metric"])) is not None:
            st.targets_total += int(float(row["value"][1]))
    for row in _query(fetch, prometheus, "site:targets_up:sum"):
        if (st := of(row["metric"])) is not None:
            st.targets_up += int(float(row["value"][1]))
    for row in _query(fetch, prometheus, f'up{{job!~"{PROBE_JOBS}"}} == 0 or probe_success == 0'):
        if (st := of(row["metric"])) is not None:
            metric = row["metric"]
            st.down.append(f"{metric.get('instance', '?')} ({metric.get('job', '?')})")
    for row in _query(fetch, prometheus, "site:wan_reachable:max"):
        if (st := of(row["metric"])) is not None:
            st.wan = float(row["value"][1]) > 0
    query = urllib.parse.urlencode({"active": "true", "silenced": "false", "inhibited": "false"})
    raw = fetch(f"{alertmanager.rstrip('/')}/api/v2/alerts?{query}")
    if not isinstance(raw, list):
        raise MonitoringError(f"{alertmanager}: /api/v2/alerts did not return a list")
    alerts = []
    for a in raw:
        labels = a.get("labels", {})
        if site and labels.get("site") != site:
            continue
        severity = labels.get("severity", "none")
        alerts.append({"alertname": labels.get("alertname", "?"), "severity": severity,
                       "site": labels.get("site", ""), "instance": labels.get("instance", ""),
                       "summary": a.get("annotations", {}).get("summary", ""), "startsAt": a.get("startsAt", "")})
        if (st := of(labels)) is not None:
            st.alerts[severity] = st.alerts.get(severity, 0) + 1
    rank = {name: i for i, name in enumerate(order or [])}
    ordered = sorted(sites.values(), key=lambda s: (rank.get(s.site, len(rank)), s.site))
    for st in ordered:
        st.down.sort()
    alerts.sort(key=lambda a: (a["severity"] != "critical", a["site"], a["alertname"], a["instance"]))
    return StatusReport(prometheus, alertmanager, ordered, alerts)
