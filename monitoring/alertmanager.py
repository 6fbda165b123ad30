"""Alertmanager configuration: route by site and severity, group by zone, inhibit the noise.

Every critical alert goes to the province NOC; each site's alerts (warnings included) go to
that site's IT staff (a commune inherits its district's address through the inventory's layered
vars). Alerts are grouped by zone (the district) and severity, and an unreachable site inhibits
the alerts of its hosts, links and, for a district, of its communes, so one dead district gives
one page instead of twenty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitoring.targets import MonitoringPlan, site_settings

if TYPE_CHECKING:
    from inventory.model import Inventory


def _receiver(name: str, email: str, webhook: str) -> dict[str, Any]:
    receiver: dict[str, Any] = {"name": name}
    if email:
        receiver["email_configs"] = [{"to": email, "send_resolved": True}]
    if webhook:
        receiver["webhook_configs"] = [{"url": webhook, "send_resolved": True}]
    return receiver


def _smarthost(inv: Inventory, plan: MonitoringPlan) -> str:
    if plan.settings.smtp_smarthost:
        return plan.settings.smtp_smarthost
    mail = inv.hosts_with_role("mail")
    if mail:
        return f"{mail[0].server_ip or mail[0].mgmt_ip}:25"
    return "localhost:25"


def alertmanager_config(inv: Inventory, plan: MonitoringPlan) -> dict[str, Any]:
    settings = plan.settings
    receivers = [_receiver("noc", settings.noc_email, settings.noc_webhook)]
    # One receiver per distinct (email, webhook) of site IT, named after its first site.
    sites_of: dict[tuple[str, str], list[str]] = {}
    for site in inv.sites.values():
        settings_of_site = site_settings(inv, site)
        sites_of.setdefault((settings_of_site.it_email, settings_of_site.it_webhook), []).append(site.name)
    routes: list[dict[str, Any]] = [{"matchers": ['severity="critical"'], "receiver": "noc", "continue": True}]
    for (email, webhook), names in sites_of.items():
        if (email, webhook) == (settings.noc_email, settings.noc_webhook):
            continue  # the NOC is this site's IT: the default route already sends everything there
        name = f"it-{names[0]}"
        receivers.append(_receiver(name, email, webhook))
        routes.append({"matchers": [f'site=~"{"|".join(names)}"'], "receiver": name})
    depth = {level.name: level.depth for level in inv.levels}
    inhibit: list[dict[str, Any]] = [
        {"source_matchers": ['alertname="SiteUnreachable"'], "target_matchers": ['alertname!="SiteUnreachable"'],
         "equal": ["site"]},
        {"source_matchers": ['alertname="HostDown"'], "target_matchers": ['alertname="ExporterDown"'],
         "equal": ["instance"]},
    ]
    zone_levels = [name for name, level_depth in depth.items() if level_depth == 1]
    deeper = [name for name, level_depth in depth.items() if level_depth > 1]
    if zone_levels and deeper:
        inhibit.append({
            "source_matchers": ['alertname="SiteUnreachable"', f'level=~"{"|".join(zone_levels)}"'],
            "target_matchers": [f'level=~"{"|".join(deeper)}"'],
            "equal": ["zone"],
        })
    return {
        "global": {"smtp_smarthost": _smarthost(inv, plan), "smtp_from": settings.smtp_from},
        "route": {
            "receiver": "noc",
            "group_by": ["zone", "severity"],
            "group_wait": settings.group_wait,
            "group_interval": settings.group_interval,
            "repeat_interval": settings.repeat_interval,
            "routes": routes,
        },
        "receivers": receivers,
        "inhibit_rules": inhibit,
    }
