"""Passwords full of quotes, backslashes, colons and unicode reach PostgreSQL intact through the
DSN and the .pgpass lines the deploys write, read by the real consumers: libpq (psql) and
psycopg2 through the reference app's own config parser, against a throwaway PostgreSQL 15.

The server listens on a unix socket only (port number 5432 names the socket file, no TCP), so
the templates' fixed port is used as written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploys import libpq, render
from deploys.ops.postgres import scram_verifier
from egov.errors import DeployError
from inventory.applications import APPS
from tests.unit.test_apps_refapp import PG_BIN, REFAPP, SYSTEM_PYTHON, _as_postgres

HOSTILE = "p'a\"s\\s:w@r/d&<>;#%é 東京 ' \\'"
ROLE = "hostile"


@pytest.fixture(scope="module")
def socket_dir() -> Iterator[Path]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL 15 is not installed: apt-get install postgresql python3-psycopg2")
    data = Path(tempfile.mkdtemp(prefix="egov-test-libpq-"))
    shutil.chown(data, "postgres")
    _as_postgres(str(PG_BIN / "initdb"), "-D", str(data / "db"), "-U", "postgres", "--auth-local", "peer")
    # the role logs in with its password (SCRAM), the superuser by peer to set things up
    (data / "db" / "pg_hba.conf").write_text(f"local all postgres peer\nlocal all {ROLE} scram-sha-256\n")
    _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data / "db"), "-w", "-l", str(data / "log"),
                 "-o", f"-p 5432 -k {data} -c listen_addresses=", "start")
    try:
        # the password goes in as the verifier deploys/ops/postgres.py computes: no quoting involved
        _as_postgres(str(PG_BIN / "psql"), "-h", str(data), "-p", "5432", "-v", "ON_ERROR_STOP=1", "-c",
                     f"CREATE ROLE {ROLE} LOGIN PASSWORD '{scram_verifier(HOSTILE)}'")
        yield data
    finally:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data / "db"), "-w", "-m", "fast", "stop")
        shutil.rmtree(data, ignore_errors=True)


def _psql(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PG_BIN / "psql"), "-X", "-w", "-At", *args, "-c", "SELECT current_user"],
                          env={**os.environ, **env}, capture_output=True, text=True, check=False)


def test_the_dsn_reaches_postgres_through_the_app_config(socket_dir: Path, tmp_path: Path) -> None:
    dsn = libpq.dsn("test DSN", host=str(socket_dir), port=5432, dbname="postgres", user=ROLE, password=HOSTILE,
                    connect_timeout=3)
    # libpq's own parser (psql takes a connection string as its database argument)
    proc = _psql({}, dsn)
    assert proc.returncode == 0 and proc.stdout.strip() == ROLE, proc.stderr
    # the file the apps role writes, read by refapp's Config, connected with psycopg2
    app = next(iter(APPS.values()))
    config = tmp_path / "app.ini"
    config.write_text(render("apps", "app.ini.j2", app=app, role_name="app_x", listen="127.0.0.1", dsn=dsn,
                             directories=[], base=""))
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import refapp, psycopg2; "
              "c = psycopg2.connect(refapp.Config(sys.argv[2]).dsn); cur = c.cursor(); "
              "cur.execute('SELECT current_user'); print(cur.fetchone()[0])")
    proc2 = subprocess.run([SYSTEM_PYTHON, "-c", script, str(REFAPP.parent), str(config)],
                           capture_output=True, text=True, check=False)
    assert proc2.returncode == 0 and proc2.stdout.strip() == ROLE, proc2.stderr


def test_a_wrong_password_is_refused(socket_dir: Path) -> None:
    """The check above can fail: the same DSN with the password's last character dropped is refused."""
    dsn = libpq.dsn("test DSN", host=str(socket_dir), port=5432, dbname="postgres", user=ROLE, password=HOSTILE[:-1])
    proc = _psql({}, dsn)
    assert proc.returncode != 0 and "password authentication failed" in proc.stderr


@pytest.mark.parametrize("template", ["backup", "db"])
def test_the_pgpass_line_reaches_postgres(socket_dir: Path, tmp_path: Path, template: str) -> None:
    what = "test .pgpass"
    host, user, password = (libpq.pgpass_field(v, what) for v in (str(socket_dir), ROLE, HOSTILE))
    # db's line is for the replication pseudo-database: make it a plain one to log in with psql
    text = (render("backup", "pgpass.j2", db_hosts=[host], user=user, password=password) if template == "backup"
            else render("db", "pgpass.j2", primary=host, user=user, password=password).replace(":replication:",
                                                                                               ":postgres:"))
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(text)
    pgpass.chmod(0o600)
    proc = _psql({"PGPASSFILE": str(pgpass)}, "-h", str(socket_dir), "-p", "5432", "-U", ROLE, "postgres")
    assert proc.returncode == 0 and proc.stdout.strip() == ROLE, proc.stderr


@pytest.mark.parametrize("bad", ["Xq7-line\nbreak-Zk9", "Xq7-carriage\rreturn-Zk9", "Xq7-nul\0byte-Zk9"])
def test_a_password_no_libpq_file_can_carry_is_refused_without_showing_it(bad: str) -> None:
    for write in (lambda: libpq.dsn("app_x's DSN", password=bad), lambda: libpq.pgpass_field(bad, "the .pgpass")):
        with pytest.raises(DeployError) as info:
            write()
        assert "Xq7" not in str(info.value) and "Zk9" not in str(info.value)
