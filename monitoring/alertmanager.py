"""Alertmanager configuration: the routing tree, its receivers and the inhibitions.

Receivers (their names are a contract: docs/monitoring.md "Receivers"; the lab's webhook
receiver and ``egov monitor status`` know them):

- ``noc``: the province NOC; every critical alert, and every alert of a site whose IT is the NOC;
- ``it-<site>``: one per distinct IT address of the inventory (``monitoring__it_email``,
  ``monitoring__it_webhook``), named after the first site that has it; every alert of its sites;
- ``deadmansswitch``: only the ``Watchdog`` alert, which always fires while Prometheus, its rules
  and Alertmanager's delivery work; an outside service pages when its repeats stop.

Alerts are grouped by alertname and site. An unreachable site inhibits the other alerts of that
site, an unreachable district those of its communes, a host down its exporters, a blind
blackbox_exporter the probes it cannot run, a symptom its causes: one dead district gives one page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitoring.delivery import deliver, smtp_global
from monitoring.rules import PROBE_JOBS
from monitoring.targets import MonitoringPlan, site_settings

if TYPE_CHECKING:
    from inventory.model import Inventory

NOC = "noc"
DEADMANSSWITCH = "deadmansswitch"
IT_PREFIX = "it-"
GROUP_BY = ["alertname", "site"]
# (symptom, causes, labels both carry): the page stands for the tickets it explains.
SYMPTOM_INHIBITS = [
    ("AppDown", "AppInstanceDown", ["app"]),
    ("RedundantPairDown", "RedundantHostDown|RouterUnreachable", ["job", "site", "role", "roles"]),
    ("HostDown|RedundantHostDown", "ExporterDown|AppInstanceDown|PostgresDown|TlsHandshakeFailing", ["instance"]),
    ("DatabasePrimaryDown", "PostgresDown", ["instance"]),
    ("CertificateExpiryImminent", "CertificateExpiringSoon|PublicCertificateExpiringSoon",
     ["job", "instance", "endpoint"]),
]


def _receiver(name: str, email: str = "", webhook: str = "") -> dict[str, Any]:
    receiver: dict[str, Any] = {"name": name}
    if email:
        receiver["email_configs"] = [{"to": email, "send_resolved": True}]
    if webhook:
        receiver["webhook_configs"] = [{"url": webhook, "send_resolved": True}]
    return receiver


def _site_receivers(inv: Inventory, plan: MonitoringPlan) -> list[tuple[dict[str, Any], list[str]]]:
    """(receiver, its sites) for each distinct IT address that is not the NOC's."""
    settings = plan.settings
    sites_of: dict[tuple[str, str], list[str]] = {}
    for site in inv.sites.values():
        of_site = site_settings(inv, site)
        sites_of.setdefault((of_site.it_email, of_site.it_webhook), []).append(site.name)
    return [(_receiver(IT_PREFIX + names[0], email, webhook), names)
            for (email, webhook), names in sites_of.items()
            # the NOC is these sites' IT: the default route already sends everything there
            if (email, webhook) != (settings.noc_email, settings.noc_webhook)]


def _inhibit_rules(inv: Inventory) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {"source_matchers": ['alertname="SiteUnreachable"'],
         "target_matchers": ['alertname!~"SiteUnreachable|Watchdog"'], "equal": ["site"]},
        # every alert of the probes a dead blackbox no longer runs, from the same Prometheus
        # (`monitor`, its external label)
        {"source_matchers": ['alertname="BlackboxExporterDown"'], "target_matchers": [f'job=~"{PROBE_JOBS}"'],
         "equal": ["monitor"]},
    ]
    rules += [{"source_matchers": [f'alertname=~"{symptom}"'], "target_matchers": [f'alertname=~"{causes}"'],
               "equal": equal} for symptom, causes, equal in SYMPTOM_INHIBITS]
    depth = {level.name: level.depth for level in inv.levels}
    zone_levels = [name for name, level_depth in depth.items() if level_depth == 1]
    deeper = [name for name, level_depth in depth.items() if level_depth > 1]
    if zone_levels and deeper:
        rules.append({
            "source_matchers": ['alertname="SiteUnreachable"', f'level=~"{"|".join(zone_levels)}"'],
            "target_matchers": [f'level=~"{"|".join(deeper)}"'],
            "equal": ["zone"],
        })
    return rules


def alertmanager_config(inv: Inventory, plan: MonitoringPlan) -> dict[str, Any]:
    settings = plan.settings
    site_receivers = _site_receivers(inv, plan)
    receivers = [_receiver(NOC, settings.noc_email, settings.noc_webhook),
                 _receiver(DEADMANSSWITCH, webhook=settings.deadmansswitch_url),
                 *(receiver for receiver, _sites in site_receivers)]
    routes: list[dict[str, Any]] = [
        # first and final: the Watchdog's repeats are the heartbeat, no one else hears them
        {"matchers": ['alertname="Watchdog"'], "receiver": DEADMANSSWITCH, "group_wait": "0s",
         "group_interval": "1m", "repeat_interval": settings.deadmansswitch_interval},
        {"matchers": ['severity="critical"'], "receiver": NOC, "continue": True},
    ]
    routes += [{"matchers": [f'site=~"{"|".join(sites)}"'], "receiver": receiver["name"]}
               for receiver, sites in site_receivers]
    return {
        "global": smtp_global(inv, plan),
        "route": {
            "receiver": NOC,
            "group_by": GROUP_BY,
            "group_wait": settings.group_wait,
            "group_interval": settings.group_interval,
            "repeat_interval": settings.repeat_interval,
            "routes": routes,
        },
        "receivers": [deliver(receiver, inv, plan) for receiver in receivers],
        "inhibit_rules": _inhibit_rules(inv),
    }
