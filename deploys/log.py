"""``log``: the central log host (rsyslog over TCP and UDP 514, one directory per sender).

Data: ``log__retention_days`` (``inventory/defaults/services.yml``).
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from deploys import data, render
from deploys.base import timer
from deploys.ops.config import checked_file


@deploy("Central log")
def apply() -> None:
    days = int(data("log__retention_days"))
    files.directory(name="central log directory", path="/var/log/egov", mode="750", group="adm")
    checked_file(name="rsyslog: receive from every host", path="/etc/rsyslog.d/10-egov-central.conf",
                 content=render("log", "central.conf.j2", retention_days=days),
                 check="rsyslogd -N1 >/dev/null", reload="systemctl restart rsyslog")
    timer("egov-log-retention", f"Drop central logs older than {days} days",
          f"/usr/bin/find /var/log/egov -type f -name '*.log' -mtime +{days} -delete", "daily")
    systemd.service(name="rsyslog running", service="rsyslog", running=True, enabled=True)
