"""``backup``: daily dumps of every application database (from the primary) and of the backup
host's own files to ``/var/backups/egov``, each followed by a restore test into a scratch
database on the backup host's local PostgreSQL.

The first deploy takes the first backup, so a new platform is never without one. The dumps are
read as ``egov_backup`` (``pg_read_all_data``, secret ``db_backup_password``).
Data: ``backup__retention_days`` (default 30), ``backup__on_calendar`` (default ``*-*-* 01:30``).
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import FindFiles
from pyinfra.operations import apt, files, systemd

from deploys import data, peers, render, secret
from deploys.base import timer
from deploys.db import BACKUP_USER, app_databases

DIRECTORY = "/var/backups/egov"


@deploy("Backup")
def apply() -> None:
    db_hosts = [addr for _n, addr in peers("db")]
    databases = [db for db, _user, _clients in app_databases()]
    context = {"directory": DIRECTORY, "databases": databases, "primary": db_hosts[0] if db_hosts else "",
               "user": BACKUP_USER, "retention_days": int(data("backup__retention_days", 30)), "scratch_port": 5432}
    apt.packages(name="PostgreSQL for dumps and restore tests", packages=["postgresql-15"])
    systemd.service(name="scratch PostgreSQL running", service="postgresql@15-main", running=True, enabled=True)
    files.directory(name="backup directory", path=DIRECTORY, mode="700")
    files.put(name="backup reader password", dest="/root/.pgpass", mode="600",
              src=StringIO(render("backup", "pgpass.j2", db_hosts=db_hosts, user=BACKUP_USER,
                                  password=secret("db_backup_password"))))
    for script in ("egov-backup", "egov-restore-test"):
        files.put(name=f"{script} script", src=StringIO(render("backup", f"{script}.sh.j2", **context)),
                  dest=f"/usr/local/sbin/{script}", mode="750")
    timer("egov-backup", "Back up the platform's databases and files, then test a restore",
          "/usr/local/sbin/egov-backup", data("backup__on_calendar", "*-*-* 01:30"))
    if not host.get_fact(FindFiles, path=f"{DIRECTORY}/db", fname="*.dump"):
        # the databases may still be coming up on the primary in the same run: retry a while
        systemd.service(name="first backup", service="egov-backup.service", running=True,
                        _retries=6, _retry_delay=10)
