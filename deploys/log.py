"""``log``: the central log host (syslog over TLS on 6514, senders verified by certificate, one
directory per host and one file per router; the plain UDP 514 of the routers not enrolled for TLS
from their loopbacks only).

Data: ``log__retention_days`` (``inventory/defaults/services.yml``).
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from deploys import data, render
from deploys.base import host_tls, timer
from deploys.context import deploy_context
from deploys.ops.config import checked_file
from inventory.services import (
    SYSLOG_ROUTER_PORT,
    SYSLOG_TLS_PORT,
    plain_syslog_routers,
    plain_syslog_sources,
    router_addresses,
)


@deploy("Central log")
def apply() -> None:
    days = int(data("log__retention_days"))
    inv = deploy_context().inventory
    plain = plain_syslog_routers(inv)
    plain_names = {router.name for router in plain}
    tls_routers = [name for name in inv.routers if name not in plain_names]
    files.directory(name="central log directory", path="/var/log/egov", mode="750", group="adm")
    checked_file(name="rsyslog: receive from every host", path="/etc/rsyslog.d/10-egov-central.conf",
                 content=render("log", "central.conf.j2", retention_days=days, port=SYSLOG_TLS_PORT,
                                peers=[*inv.hosts, *tls_routers], router_addresses=router_addresses(inv),
                                router_port=SYSLOG_ROUTER_PORT, plain_sources=plain_syslog_sources(inv),
                                plain_loopbacks=[(str(router.loopback), router.name) for router in plain],
                                **dict(zip(("cert", "key", "ca"), host_tls(), strict=True))),
                 check="rsyslogd -N1 >/dev/null", reload="systemctl restart rsyslog")
    timer("egov-log-retention", f"Drop central logs older than {days} days",
          f"/usr/bin/find /var/log/egov -type f -name '*.log' -mtime +{days} -delete", "daily")
    systemd.service(name="rsyslog running", service="rsyslog", running=True, enabled=True)
