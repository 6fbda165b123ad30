"""``db``: PostgreSQL 15, the primary on the first ``db`` host of the inventory and a streaming
replica on each other one; one database and one role per core application.

Each application (``inventory.applications.APPS``) gets database ``<app>`` owned by role ``<app>`` whose
password is the secret ``db_<app>_password``, reachable only from the hosts that run the app.
Replication uses role ``replicator`` (secret ``db_replication_password``); the backup host
reads every database as ``egov_backup`` (secret ``db_backup_password``, ``pg_read_all_data``).
Passwords go to the server only as SCRAM verifiers. Between hosts only TLS: the server shows the
host's certificate (``deploys.base.host_tls``), pg_hba admits remote clients with ``hostssl`` only,
and a replica connects with ``sslmode=verify-full``.
"""

from __future__ import annotations

import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import OperationError, deploy, operation
from pyinfra.operations import apt, files, systemd

from deploys import host_name, libpq, peers, render, secret
from deploys.base import host_tls
from deploys.facts.postgres import PSQL, PgDatabases, PgInRecovery
from deploys.ops import OperationCommands, postgres
from deploys.ops.config import checked_file

VERSION = "15"
PACKAGES = [f"postgresql-{VERSION}"]
CLUSTER = f"postgresql@{VERSION}-main"
ETC = f"/etc/postgresql/{VERSION}/main"
DATA = f"/var/lib/postgresql/{VERSION}/main"
REPLICATION_USER = "replicator"
BACKUP_USER = "egov_backup"
SYSTEM_DATABASES = {"postgres", "template0", "template1"}
# `postgres -C` parses the whole configuration (and conf.d) and exits, also next to a running server
CONFIG_CHECK = (f"runuser -u postgres -- /usr/lib/postgresql/{VERSION}/bin/postgres -D {DATA} "
                f"-c config_file={ETC}/postgresql.conf -C wal_level >/dev/null")
HBA_CHECK = (f"test \"$({PSQL} -c 'select count(*) from pg_hba_file_rules where error is not null')\" = 0")


def app_databases() -> list[tuple[str, str, list[str]]]:
    """``(database, role, client addresses)`` of every application the inventory places."""
    from inventory.applications import APPS

    return [(app.name, app.name, [addr for _n, addr in peers(role)]) for role, app in APPS.items() if peers(role)]


def replication_conninfo(primary: str, ca_file: str, user: str = REPLICATION_USER) -> str:
    """How a replica reaches ``primary``: TLS with its certificate and name verified against ``ca_file``
    (the password: the postgres user's ~/.pgpass)."""
    return libpq.dsn(f"{host_name()}: the replication connection", host=primary, user=user, **libpq.verified(ca_file))


@operation()
def replica_of(primary: str, ca_file: str, user: str = REPLICATION_USER) -> OperationCommands:
    """
    Make the local cluster a streaming replica of ``primary`` (pg_basebackup -R, whose
    ``primary_conninfo`` keeps the connection's TLS keywords).

    + primary: the primary's address
    + ca_file: the CA the primary's certificate must chain to (``sslmode=verify-full``)
    + user: the replication role (its password is in the postgres user's ~/.pgpass)

    Never wipes a cluster that holds application databases: a former primary is left for an
    operator to rejoin.

    **Example:**

    .. code:: python

        replica_of(name="replica of dc-db1", primary="10.22.146.12", ca_file="/etc/ssl/certs/ca.crt")
    """
    if host.get_fact(PgInRecovery):
        host.noop("already a streaming replica")
        return
    databases: dict[str, str] = host.get_fact(PgDatabases)
    data_dbs = set(databases) - SYSTEM_DATABASES
    if data_dbs:
        raise OperationError(f"{host_name()}: refusing to replace a cluster holding databases {sorted(data_dbs)}")
    yield f"systemctl stop {CLUSTER}"
    yield f"rm -rf {DATA}"
    yield (f"runuser -u postgres -- pg_basebackup -d {shlex.quote(replication_conninfo(primary, ca_file, user))} "
           f"-D {DATA} -R -X stream -c fast "
           f"--no-password")
    yield f"systemctl start {CLUSTER}"


@deploy("Database")
def apply() -> None:
    db_hosts = peers("db")
    primary_name, primary = db_hosts[0]
    backup_hosts = [addr for _n, addr in peers("backup")]
    apt.packages(name="PostgreSQL 15", packages=PACKAGES)
    cert, key, ca = host_tls()
    checked_file(name="postgresql settings", path=f"{ETC}/conf.d/egov.conf", user="postgres", group="postgres",
                 content=render("db", "egov.conf.j2", cert=cert, key=key), check=CONFIG_CHECK,
                 reload=f"systemctl restart {CLUSTER}")
    rules = [(db, user, address) for db, user, addresses in app_databases() for address in addresses]
    rules += [(db, BACKUP_USER, address) for db, _u, _a in app_databases() for address in backup_hosts]
    rules += [("replication", REPLICATION_USER, address) for _n, address in db_hosts]
    checked_file(name="pg_hba: each application to its own database", path=f"{ETC}/pg_hba.conf", mode="640",
                 user="postgres", group="postgres", content=render("db", "pg_hba.conf.j2", rules=rules),
                 check=HBA_CHECK, reload=f"systemctl reload-or-restart {CLUSTER}",
                 check_live=True)  # pg_hba_file_rules is the running server's reading of the live file
    systemd.service(name="postgresql running", service=CLUSTER, running=True, enabled=True)
    if host_name() == primary_name:
        postgres.role(name="role replicator", role=REPLICATION_USER, password=secret("db_replication_password"),
                      replication=True)
        postgres.role(name="role egov_backup", role=BACKUP_USER, password=secret("db_backup_password"))
        for database, role, _clients in app_databases():
            postgres.role(name=f"role {role}", role=role, password=secret(f"db_{database}_password"))
            postgres.database(name=f"database {database}", database=database, owner=role)
            postgres.grant_connect(name=f"backup reads {database}", database=database, role=BACKUP_USER)
        postgres.grant_role(name="egov_backup reads every database", role="pg_read_all_data", member=BACKUP_USER)
    else:
        what = f"{host_name()}: the replication .pgpass (secret db_replication_password)"
        files.put(name="replication password", src=StringIO(render(
                      "db", "pgpass.j2", primary=libpq.pgpass_field(primary, what),
                      user=libpq.pgpass_field(REPLICATION_USER, what),
                      password=libpq.pgpass_field(secret("db_replication_password"), what))),
                  dest="/var/lib/postgresql/.pgpass", user="postgres", group="postgres", mode="600")
        replica_of(name=f"streaming replica of {primary_name}", primary=primary, ca_file=ca, _retries=6,
                   _retry_delay=5)
        # a replica made before TLS (or by hand) converges to it too
        postgres.setting(name="replication over TLS (verify-full)", setting="primary_conninfo",
                         value=replication_conninfo(primary, ca))
