"""``log``: the central log host (syslog over TLS on 6514, senders verified by certificate, one
directory per sender; the routers' plain UDP 514 from the router loopback pool only, one file per router).

Data: ``log__retention_days`` (``inventory/defaults/services.yml``).
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from deploys import data, render
from deploys.base import host_tls, timer
from deploys.context import deploy_context
from deploys.ops.config import checked_file
from inventory.services import SYSLOG_ROUTER_PORT, SYSLOG_TLS_PORT, router_pool


@deploy("Central log")
def apply() -> None:
    days = int(data("log__retention_days"))
    inv = deploy_context().inventory
    routers = [(name, str(router.loopback)) for name, router in inv.routers.items()]
    files.directory(name="central log directory", path="/var/log/egov", mode="750", group="adm")
    checked_file(name="rsyslog: receive from every host", path="/etc/rsyslog.d/10-egov-central.conf",
                 content=render("log", "central.conf.j2", retention_days=days, port=SYSLOG_TLS_PORT,
                                peers=list(inv.hosts), router_port=SYSLOG_ROUTER_PORT, router_pool=router_pool(inv),
                                routers=routers, **dict(zip(("cert", "key", "ca"), host_tls(), strict=True))),
                 check="rsyslogd -N1 >/dev/null", reload="systemctl restart rsyslog")
    timer("egov-log-retention", f"Drop central logs older than {days} days",
          f"/usr/bin/find /var/log/egov -type f -name '*.log' -mtime +{days} -delete", "daily")
    systemd.service(name="rsyslog running", service="rsyslog", running=True, enabled=True)
