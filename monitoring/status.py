"""The on-call view: each site's state, its targets and WAN, and every firing alert with its
duration, runbook and whether it is silenced or inhibited, and by what.

Reads Prometheus' HTTP API (the ``site:`` recording rules, which a province server also has for
federated districts, and the targets that are down) and Alertmanager's v2 API (every active
alert, silenced and inhibited ones included: ``status.silencedBy`` names silences,
``status.inhibitedBy`` the fingerprints of the alerts that inhibit it).

A site's state is its own, whatever hides its alerts from the pager: an alert inhibited by its
district's ``SiteUnreachable`` still makes the commune critical. Only a silence (someone said
"I know") takes an alert out of the state; it stays listed, with who silenced it. A site with no
alert yet but a target down is a warning; a site Prometheus finds unreachable is critical.

``collect_status`` is the one entry point (the CLI and the on-call web page both call it).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from monitoring import api
from monitoring.rules import PROBE_JOBS

# Worst first; the exit code of a Nagios-style check for each.
STATES = ("critical", "warning", "unknown", "ok")
EXIT_CODES = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}
RUNBOOKS = "docs/monitoring.md"  # where a rule without a runbook_url annotation has its runbook


def worst(states: list[str]) -> str:
    return min(states, key=STATES.index, default="ok")


def _parse_time(stamp: str) -> float | None:
    try:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class AlertView:
    """One firing alert as on-call needs it."""

    name: str
    severity: str
    site: str
    instance: str
    summary: str
    runbook: str
    starts_at: str
    seconds: float | None  # how long it has fired, at the read; None when startsAt is unreadable
    fingerprint: str
    labels: dict[str, str]
    silenced_by: list[str] = field(default_factory=list)  # "id by author: comment (until T)"
    inhibited_by: list[str] = field(default_factory=list)  # "SiteUnreachable at tien-yen"
    root_sites: list[str] = field(default_factory=list)  # sites of the alerts at the end of the inhibition chain

    @property
    def silenced(self) -> bool:
        return bool(self.silenced_by)

    @property
    def inhibited(self) -> bool:
        return bool(self.inhibited_by)

    def to_dict(self) -> dict[str, Any]:
        return {"alertname": self.name, "severity": self.severity, "site": self.site, "instance": self.instance,
                "summary": self.summary, "runbook": self.runbook, "startsAt": self.starts_at,
                "seconds": self.seconds, "fingerprint": self.fingerprint, "labels": self.labels,
                "silenced": self.silenced, "silenced_by": self.silenced_by,
                "inhibited": self.inhibited, "inhibited_by": self.inhibited_by}


@dataclass
class SiteStatus:
    site: str
    level: str = ""
    zone: str = ""
    targets_up: int = 0
    targets_total: int = 0
    down: list[str] = field(default_factory=list)
    alerts: list[AlertView] = field(default_factory=list)
    wan: bool | None = None  # None: the site has no router probed
    reachable: bool | None = None  # None: no aggregate (no target of the site)
    seen: bool = True  # False: the inventory has the site but Prometheus has no series of it

    @property
    def targets_down(self) -> int:
        return self.targets_total - self.targets_up

    @property
    def counts(self) -> dict[str, int]:
        """Firing alerts by severity, silenced ones left out (inhibited ones counted: they are true)."""
        out: dict[str, int] = {}
        for a in self.alerts:
            if not a.silenced:
                out[a.severity] = out.get(a.severity, 0) + 1
        return out

    @property
    def state(self) -> str:
        if not self.seen and not self.alerts:
            return "unknown"  # no evidence either way: its probes or its district's server are gone
        live = [a for a in self.alerts if not a.silenced]
        states = [a.severity for a in live if a.severity in EXIT_CODES]
        if self.reachable is False:
            states.append("critical")
        if not self.alerts and (self.targets_down > 0 or self.wan is False):
            states.append("warning")  # something is down and no rule has fired (yet)
        return worst(states)

    @property
    def covered_by(self) -> str | None:
        """The other site whose alerts inhibit every live alert of this one (its district, down)."""
        live = [a for a in self.alerts if not a.silenced]
        if not live or not all(a.inhibited for a in live):
            return None
        sources = {s for a in live for s in a.root_sites}
        return next(iter(sources)) if len(sources) == 1 and self.site not in sources else None

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "level": self.level, "zone": self.zone, "state": self.state, "seen": self.seen,
                "targets_up": self.targets_up, "targets_total": self.targets_total,
                "targets_down": self.targets_down, "down": self.down, "wan": self.wan,
                "reachable": self.reachable, "alerts": self.counts, "covered_by": self.covered_by}


@dataclass
class StatusReport:
    prometheus: str
    alertmanager: str
    read_at: float
    sites: list[SiteStatus]  # in inventory order
    alerts: list[AlertView]  # critical first, then by site

    @property
    def state(self) -> str:
        site_less = [a.severity for a in self.alerts if not a.site and not a.silenced and a.severity in EXIT_CODES]
        return worst([s.state for s in self.sites] + site_less)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.state]

    @property
    def critical(self) -> bool:
        return self.state == "critical"

    def by_state(self) -> dict[str, list[SiteStatus]]:
        """Sites grouped by state, worst first (each group in inventory order)."""
        out: dict[str, list[SiteStatus]] = {state: [] for state in STATES}
        for s in self.sites:
            out[s.state].append(s)
        return out

    def failing(self) -> list[SiteStatus]:
        """Sites not ``ok``, worst first."""
        groups = self.by_state()
        return [s for state in STATES if state != "ok" for s in groups[state]]

    def to_dict(self) -> dict[str, Any]:
        return {"prometheus": self.prometheus, "alertmanager": self.alertmanager, "state": self.state,
                "exit_code": self.exit_code, "critical": self.critical,
                "read_at": dt.datetime.fromtimestamp(self.read_at, dt.UTC).isoformat(timespec="seconds"),
                "sites": [s.to_dict() for s in self.sites], "alerts": [a.to_dict() for a in self.alerts]}


def _silence_text(silence: dict[str, Any] | None, sid: str) -> str:
    if silence is None:
        return sid
    return (f"{sid} by {silence.get('createdBy', '?')}: {silence.get('comment', '')} "
            f"(until {silence.get('endsAt', '?')})")


def _roots(alert: dict[str, Any], by_fingerprint: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The alerts that inhibit ``alert``, followed to those nothing inhibits: a commune's router
    alert is inhibited by the commune's SiteUnreachable, which its district's inhibits."""
    roots, seen = [], set()
    todo = list(alert.get("status", {}).get("inhibitedBy") or [])
    while todo:
        fp = todo.pop()
        if fp in seen or fp not in by_fingerprint:
            continue
        seen.add(fp)
        parents = by_fingerprint[fp].get("status", {}).get("inhibitedBy") or []
        if parents:
            todo.extend(parents)
        else:
            roots.append(by_fingerprint[fp])
    return roots


def _alert_views(raw: list[dict[str, Any]], silences: dict[str, dict[str, Any]], now: float) -> list[AlertView]:
    by_fingerprint = {a.get("fingerprint", ""): a for a in raw}
    out = []
    for a in raw:
        labels = dict(a.get("labels", {}))
        annotations = a.get("annotations", {})
        name = labels.get("alertname", "?")
        status = a.get("status", {})
        started = _parse_time(a.get("startsAt", ""))
        inhibitors = [by_fingerprint[f] for f in status.get("inhibitedBy") or [] if f in by_fingerprint]
        out.append(AlertView(
            name=name, severity=labels.get("severity", "none"), site=labels.get("site", ""),
            instance=labels.get("instance", ""), summary=annotations.get("summary", ""),
            runbook=annotations.get("runbook_url") or f"{RUNBOOKS}#{name.lower()}",
            starts_at=a.get("startsAt", ""), seconds=None if started is None else max(0.0, now - started),
            fingerprint=a.get("fingerprint", ""), labels=labels,
            silenced_by=[_silence_text(silences.get(sid), sid) for sid in status.get("silencedBy") or []],
            # an inhibitor gone between its evaluation and our read still counts, by fingerprint
            inhibited_by=[f"{i['labels'].get('alertname', '?')} at {i['labels'].get('site', '?')}" for i in inhibitors]
            or list(status.get("inhibitedBy") or []),
            root_sites=[r["labels"].get("site", "") for r in _roots(a, by_fingerprint)]))
    return out


def collect_status(prometheus: str, alertmanager: str, site: str | None = None, order: list[str] | None = None,
                   http: api.Http = api.http_json, now: float | None = None) -> StatusReport:
    """Ask both servers and build the per-site view.

    ``order``: the inventory's sites, in order; a site of it with no series at all is listed as
    ``unknown`` (no data), so a dead prober cannot shrink the province to the sites it still sees.

    Raises ``api.Unreachable`` (naming the server) when either cannot be asked.
    """
    sites: dict[str, SiteStatus] = {}

    def of(labels: dict[str, str]) -> SiteStatus | None:
        name = labels.get("site", "")
        if not name or (site and name != site):
            return None
        st = sites.setdefault(name, SiteStatus(name))
        st.level = st.level or labels.get("level", "")
        st.zone = st.zone or labels.get("zone", "")
        return st

    for row in api.query(prometheus, "site:targets:count", http):
        if (st := of(row["metric"])) is not None:
            st.targets_total += int(float(row["value"][1]))
    for row in api.query(prometheus, "site:targets_up:sum", http):
        if (st := of(row["metric"])) is not None:
            st.targets_up += int(float(row["value"][1]))
    for row in api.query(prometheus, f'up{{job!~"{PROBE_JOBS}"}} == 0 or probe_success == 0', http):
        if (st := of(row["metric"])) is not None:
            metric = row["metric"]
            st.down.append(f"{metric.get('instance', '?')} ({metric.get('job', '?')})")
    for row in api.query(prometheus, "site:wan_reachable:max", http):
        if (st := of(row["metric"])) is not None:
            st.wan = float(row["value"][1]) > 0
    for row in api.query(prometheus, "site:reachable:max", http):
        if (st := of(row["metric"])) is not None:
            st.reachable = (st.reachable or False) or float(row["value"][1]) > 0
    raw = api.alerts(alertmanager, http)
    known = {}
    if any(a.get("status", {}).get("silencedBy") for a in raw):
        known = {s.get("id", ""): s for s in api.silences(alertmanager, http)}
    read_at = time.time() if now is None else now
    views = _alert_views(raw, known, read_at)
    shown = []
    for view in views:
        if site and view.site != site:
            continue
        shown.append(view)
        if (st := of(view.labels)) is not None:
            st.alerts.append(view)
    for name in order or []:
        if name not in sites and (not site or name == site):
            sites[name] = SiteStatus(name, seen=False)
    rank = {name: i for i, name in enumerate(order or [])}
    ordered = sorted(sites.values(), key=lambda s: (rank.get(s.site, len(rank)), s.site))
    for st in ordered:
        st.down.sort()
    severity = {state: i for i, state in enumerate(STATES)}
    # what pages first, worst first; then what is inhibited; silenced last
    shown.sort(key=lambda a: (a.silenced, a.inhibited, severity.get(a.severity, len(STATES)),
                              rank.get(a.site, len(rank)), a.name, a.instance))
    return StatusReport(prometheus, alertmanager, read_at, ordered, shown)
