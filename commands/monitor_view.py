"""How `egov monitor status` prints a StatusReport for a person at 3 a.m.: the failing sites
first, the sites their district's failure covers folded under it, every other site in one
line, then each alert with its duration, runbook and what silences or inhibits it."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

import click

from commands import common

if TYPE_CHECKING:
    from monitoring.api import Unreachable
    from monitoring.status import AlertView, SiteStatus, StatusReport

WAN = {True: "up", False: "DOWN", None: "-"}
FOLDED_NAMES = 6  # folded sites named before "..."


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600}h"


def clock(stamp: float) -> str:
    return dt.datetime.fromtimestamp(stamp).astimezone().strftime("%H:%M:%S %Z")


def _names(names: list[str]) -> str:
    return ", ".join(names[:FOLDED_NAMES]) + (f", ... ({len(names) - FOLDED_NAMES} more)"
                                              if len(names) > FOLDED_NAMES else "")


def _site_row(s: SiteStatus) -> list[object]:
    counts = s.counts
    alerts = ", ".join(f"{n} {sev}" for sev, n in sorted(counts.items())) or "-"
    return [s.state.upper(), s.site, s.level, f"{s.targets_up}/{s.targets_total}", WAN[s.wan], alerts,
            ", ".join(s.down)]


def _alert_line(a: AlertView) -> str:
    where = f"{a.site} {a.instance}".strip()
    head = f"  {a.severity:<8} {a.name:<24} {where:<36} for {duration(a.seconds):<6}"
    if a.silenced:
        return head + "silenced: " + "; ".join(a.silenced_by)
    if a.inhibited:
        return head + "inhibited by " + ", ".join(a.inhibited_by)
    return f"{head}{a.summary}\n  {'':<8} runbook {a.runbook}"


def _show_alerts(report: StatusReport, site: str | None, folded: set[str]) -> None:
    """Paging alerts in full (summary, runbook); silenced and inhibited ones on one line each;
    the alerts of sites folded under their district in one line."""
    shown = [a for a in report.alerts if site or a.site not in folded]
    hidden = [a for a in report.alerts if not site and a.site in folded]
    paging = sum(1 for a in report.alerts if not a.silenced and not a.inhibited)
    click.echo(f"Firing alerts: {paging} paging, {sum(a.inhibited for a in report.alerts)} inhibited, "
               f"{sum(a.silenced for a in report.alerts)} silenced")
    for a in shown:
        click.echo(_alert_line(a))
    if hidden:
        sites = sorted({a.site for a in hidden})
        click.echo(f"  + {len(hidden)} alerts of {len(sites)} sites inhibited by their parent's "
                   f"(egov monitor status --site S): {_names(sites)}")


def show_status(report: StatusReport | None, site: str | None, error: Unreachable | None) -> None:
    """Print the view; with ``error`` (a failed read during --watch) say so above the last good one."""
    if error is not None:
        last = f"last good read {clock(report.read_at)} ({duration(time.time() - report.read_at)} ago)" \
            if report else "no good read yet"
        click.echo(f"UNKNOWN: {error} -- {last}")
    if report is None:
        return
    failing = report.failing()
    covered: dict[str, list[SiteStatus]] = {}
    for s in failing:
        if s.covered_by and not site:
            covered.setdefault(s.covered_by, []).append(s)
    rows: list[list[object]] = []
    for s in failing:
        if s.covered_by and not site and any(p.site == s.covered_by for p in failing):
            continue  # folded under the site that covers it
        rows.append(_site_row(s))
        if s.site in covered:
            rows.append(["", f"  + {len(covered[s.site])} sites below", "", "", "", "inhibited by it",
                         _names([c.site for c in covered[s.site]])])
    if site:
        rows += [_site_row(s) for s in report.sites if s.state == "ok"]
    title = f"{report.state.upper()} at {clock(report.read_at)}, from {report.prometheus}"
    if rows:
        common.table(title, ["state", "site", "level", "targets up", "WAN", "alerts", "down targets"], rows)
    else:
        click.echo(title)
    ok = [s for s in report.sites if s.state == "ok"]
    if ok and not site:
        click.echo(f"{len(ok)} other sites OK" if failing else f"all {len(ok)} sites OK")
    if report.alerts:
        _show_alerts(report, site, {s.site for group in covered.values() for s in group})
    click.echo({"ok": "OK: nothing fires", "warning": "WARNING", "critical": "CRITICAL",
                "unknown": "UNKNOWN"}[report.state] + (f" (exit {report.exit_code})" if report.exit_code else ""))
