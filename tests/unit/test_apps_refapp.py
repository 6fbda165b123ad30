"""The reference application against a real PostgreSQL started on this machine's loopback.

Needs Debian's ``postgresql`` and ``python3-psycopg2`` (the app runs on the hosts' own Python,
/usr/bin/python3, exactly as its systemd unit starts it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import testinfra

from tests.support import refapp
from tests.support.loopback import free_port
from verify.checks import CHECKS, Node

REFAPP = Path(__file__).resolve().parents[2] / "apps" / "refapp" / "refapp.py"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SYSTEM_PYTHON = "/usr/bin/python3"


def _as_postgres(*cmd: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True)


def _pg_start(data: Path, port: int) -> None:
    # -l: the server's output goes to a file, so no pipe of ours stays open behind it
    _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data / "db"), "-w", "-l", str(data / "log"),
                 "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start")


def _pg_stop(data: Path) -> None:
    _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data / "db"), "-w", "-m", "fast", "stop")


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[int, Path]]:
    """A throwaway cluster on 127.0.0.1 with database ``portal`` owned by role ``portal``."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL 15 is not installed: apt-get install postgresql python3-psycopg2")
    # pytest's own tmp directories are 0700 root: the postgres user could not enter them
    data = Path(tempfile.mkdtemp(prefix="egov-test-pg-"))
    shutil.chown(data, "postgres")
    port = free_port()
    pwfile = data / "pw"
    pwfile.write_text("bootstrap-pw\n")
    shutil.chown(pwfile, "postgres")
    _as_postgres(str(PG_BIN / "initdb"), "-D", str(data / "db"), "-U", "postgres", "--auth-local", "peer",
                 "--auth-host", "scram-sha-256", "--pwfile", str(pwfile))
    _pg_start(data, port)
    try:
        psql = ["runuser", "-u", "postgres", "--", str(PG_BIN / "psql"), "-h", str(data), "-p", str(port), "-v",
                "ON_ERROR_STOP=1", "-c"]
        subprocess.run([*psql, "CREATE ROLE portal LOGIN PASSWORD 'app-secret-pw'"], check=True, capture_output=True)
        subprocess.run([*psql, "CREATE DATABASE portal OWNER portal"], check=True, capture_output=True)
        yield port, data
    finally:
        _pg_stop(data)
        shutil.rmtree(data, ignore_errors=True)


def _start_app(tmp_path: Path, pg_port: int, password: str = "app-secret-pw") -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = tmp_path / "app.ini"
    config.write_text(
        "[app]\nname = app_portal\ntitle = Online public-service portal\nlisten = 127.0.0.1\n"
        f"port = {port}\n\n[database]\n"
        f"dsn = host=127.0.0.1 port={pg_port} dbname=portal user=portal password={password} connect_timeout=3\n"
    )
    return refapp.start(config, port), port




@pytest.fixture()
def app(tmp_path: Path, postgres: tuple[int, Path]) -> Iterator[int]:
    proc, port = _start_app(tmp_path, postgres[0])
    yield port
    proc.terminate()
    proc.wait(timeout=5)


def test_healthz_ok_and_answers_from_database(app: int) -> None:
    status, body = refapp.ask(app, "/healthz")
    assert status == 200 and body["status"] == "ok" and body["app"] == "app_portal"
    status, body = refapp.ask(app, "/")
    assert status == 200
    assert body["database"] == "portal" and body["user"] == "portal"
    assert str(body["server_version"]).startswith("15")


def test_records_are_written_to_the_database(app: int) -> None:
    status, created = refapp.ask(app, "/records", {"title": "Cấp giấy phép xây dựng"})
    assert status == 201
    status, listing = refapp.ask(app, "/records")
    assert status == 200
    records = listing["records"]
    assert isinstance(records, list) and records[0]["title"] == "Cấp giấy phép xây dựng"
    assert records[0]["id"] == created["id"]


def test_bad_requests_are_refused_cleanly(app: int) -> None:
    assert refapp.ask(app, "/records", {"name": "x"})[0] == 400
    assert refapp.ask(app, "/nowhere")[0] == 404
    assert refapp.ask(app, "/healthz", {"title": "x"})[0] == 405


def test_healthz_survives_a_database_restart(app: int, postgres: tuple[int, Path]) -> None:
    """Pooled connections die with the server: the next request must use a new one, not fail."""
    assert refapp.ask(app, "/healthz")[0] == 200
    _pg_stop(postgres[1])
    _pg_start(postgres[1], postgres[0])
    status, body = refapp.ask(app, "/healthz")
    assert status == 200, body


def test_healthz_fails_without_leaking_the_password(tmp_path: Path, postgres: tuple[int, Path]) -> None:
    proc, port = _start_app(tmp_path, postgres[0], password="wrong-password-xyz")
    try:
        status, body = refapp.ask(port, "/healthz")
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert status == 503 and body["status"] == "fail"
    assert "wrong-password-xyz" not in json.dumps(body)


def test_app_health_check_over_testinfra(app: int) -> None:
    """The standard's app-health check, through testinfra's local backend, against the real app."""
    host = testinfra.get_host("local://")
    node = Node(name="local", roles=["app_portal"], apps={"app_portal": app})
    outcome = CHECKS["app_health_direct"](host, node)
    assert outcome.passed, outcome.detail
    broken = Node(name="local", roles=["app_portal"], apps={"app_portal": free_port()})
    outcome = CHECKS["app_health_direct"](host, broken)
    assert not outcome.passed and "app_portal" in outcome.detail
