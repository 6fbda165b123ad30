"""How a page leaves Alertmanager and arrives: the delivery settings of every receiver.

- E-mail goes to the mail host on port 25 with STARTTLS required, its certificate verified
  against the mail name (``inventory.services.mail_name``) with the host's trust store, where the
  deploy puts the platform CA. The smarthost is the mail host's address, not its name: paging must
  not depend on the DNS it may be paging about, so ``tls_config.server_name`` carries the name the
  certificate holds. Port 25, not 587: the mail host accepts the platform's networks there without
  a password, so no credential sits in ``alertmanager.yml`` (Alertmanager 0.25 reads a password
  only inline, so it would be in every generated tree).
- Every receiver also posts what it sends to the toolkit's alert receiver (``monitoring/receiver.py``)
  on each top-level monitoring host, at ``/<receiver name>``: the record of what paged whom, and,
  for ``deadmansswitch``, the heartbeat its dead man's switch watches.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from egov.errors import MonitoringError
from inventory.services import mail_name
from monitoring.settings import duration_seconds

if TYPE_CHECKING:
    from inventory.model import Inventory
    from monitoring.targets import MonitoringPlan, Server

SMTP_PORT = 25
# Debian's trust store (update-ca-certificates), where deploys/pki.py adds the platform CA; read
# by Alertmanager at every notification, so a CA added after it started is trusted at once
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# where the alert receiver keeps its record (systemd's StateDirectory of its unit)
RECEIVER_STATE_DIR = "/var/lib/egov-alert-receiver"
RECEIVER_CONFIG = "alert-receiver.json"
WATCHDOG = "Watchdog"


def smtp(inv: Inventory, plan: MonitoringPlan) -> tuple[str, int, str]:
    """(address or host, port, name its certificate must hold) of Alertmanager's smarthost."""
    setting = plan.settings.smtp_smarthost
    if setting:
        host, sep, port = setting.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise MonitoringError(f"{inv.path}: monitoring__smtp_smarthost: expected host:port, got {setting!r}")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return host, int(port), host
        raise MonitoringError(f"{inv.path}: monitoring__smtp_smarthost: {host} is an address, which no certificate "
                              "names: give the relay's host name")
    mail = inv.hosts_with_role("mail")
    if not mail:
        raise MonitoringError(f"{inv.path}: no host has role mail and monitoring__smtp_smarthost is not set: "
                              "Alertmanager could send no e-mail")
    return str(mail[0].server_ip or mail[0].mgmt_ip), SMTP_PORT, mail_name(inv)


def smtp_global(inv: Inventory, plan: MonitoringPlan) -> dict[str, Any]:
    """The ``global`` section's SMTP settings."""
    host, port, _ = smtp(inv, plan)
    return {"smtp_smarthost": f"{host}:{port}", "smtp_from": plan.settings.smtp_from, "smtp_require_tls": True}


def recorder_urls(plan: MonitoringPlan, receiver: str) -> list[str]:
    """The alert receivers' URLs for ``receiver``'s notifications, one per top-level server."""
    return [f"http://{top.address}:{top.settings.alert_receiver_port}/{receiver}" for top in plan.top]


def deliver(receiver: dict[str, Any], inv: Inventory, plan: MonitoringPlan) -> dict[str, Any]:
    """``receiver`` (name and addresses, from the routing) with its delivery settings."""
    out = dict(receiver)
    if receiver.get("email_configs"):
        _, _, server_name = smtp(inv, plan)
        tls = {"ca_file": CA_BUNDLE, "server_name": server_name}
        out["email_configs"] = [{**config, "require_tls": True, "tls_config": tls}
                                for config in receiver["email_configs"]]
    out["webhook_configs"] = [*receiver.get("webhook_configs", []),
                              *({"url": url, "send_resolved": True} for url in recorder_urls(plan, receiver["name"]))]
    return out


def receiver_config(inv: Inventory, plan: MonitoringPlan, server: Server) -> dict[str, Any]:
    """The alert receiver's configuration on top-level ``server`` (see monitoring/receiver.py).

    Only the top-level servers (whose Alertmanagers post) and the host itself may POST: anyone
    else could feed the dead man's switch a Watchdog and keep it quiet.
    """
    settings = server.settings
    silent_after = duration_seconds(settings.deadmansswitch_silent_after)
    interval = duration_seconds(settings.deadmansswitch_interval)
    if silent_after < 2 * interval:
        raise MonitoringError(
            f"{inv.path}: monitoring__deadmansswitch_silent_after ({settings.deadmansswitch_silent_after}) must be at "
            f"least twice monitoring__deadmansswitch_interval ({settings.deadmansswitch_interval}): Alertmanager "
            "repeats the Watchdog at that interval, on its group_interval's ticks")
    mail: dict[str, Any] | None = None
    if settings.noc_email:
        host, port, server_name = smtp(inv, plan)
        mail = {"host": host, "port": port, "server_name": server_name, "ca_file": CA_BUNDLE,
                "from": settings.smtp_from, "to": [settings.noc_email]}
    return {"listen": f"0.0.0.0:{settings.alert_receiver_port}", "state_dir": RECEIVER_STATE_DIR,
            "allow_post_from": sorted({"127.0.0.1", *(top.address for top in plan.top)}),
            "watchdog": {"alertname": WATCHDOG, "silent_after": silent_after}, "mail": mail}
