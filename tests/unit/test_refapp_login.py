"""The reference application's login against a real slapd over ldaps (the directory role's config,
the lab's rosters loaded), run on the hosts' own Python with Debian's python3-ldap3, as on a host.

The right password opens, a wrong one, an empty one or an unknown user does not; a first directory
server that is down is skipped; with none up the app says so (503); the password is never in its log.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploys.directory import tree
from deploys.ldif import changes
from inventory import load_inventory
from inventory.roster import load_rosters
from tests.support import refapp
from tests.support import slapd as slapd_support
from tests.support.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]
REFAPP, SYSTEM_PYTHON = refapp.REFAPP, refapp.SYSTEM_PYTHON
BASE = slapd_support.BASE


def _has_ldap3() -> bool:
    return subprocess.run([SYSTEM_PYTHON, "-c", "import ldap3"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not slapd_support.installed() or not _has_ldap3(),
                                reason="needs slapd, ldap-utils and python3-ldap3 (apt-get install ...)")


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """slapd on ldaps://127.0.0.1:<port> holding the lab's tree; yields the port and the CA file."""
    tmp = tmp_path_factory.mktemp("slapd")
    port = free_port()
    with slapd_support.running(tmp, ldaps_port=port) as uri:
        inv = load_inventory(ROOT / "inventory" / "lab.yml")
        accounts = load_rosters(ROOT / "inventory" / "rosters" / "lab", ["lanhdao", "vanthu", "chuyenvien", "cntt"],
                                agencies=list(inv.agencies))
        wanted = tree(inv, accounts, ["noc"], ["vanthu"], lambda name: f"pw-{name}")
        slapd_support.modify(uri, changes({}, wanted, []), tmp)
        yield port, tmp / "pki" / "ca.crt"


def _start(tmp_path: Path, uris: list[str], ca: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = tmp_path / "app.ini"
    # the database is down (a closed port): the app starts anyway, and /login needs none
    config.write_text(f"[app]\nname = app_portal\nlisten = 127.0.0.1\nport = {port}\n\n[database]\n"
                      f"dsn = host=127.0.0.1 port={free_port()} dbname=x user=x password=x "
                      "connect_timeout=1\n\n"
                      f"[directory]\nuris = {' '.join(uris)}\nbase = {BASE}\nca_file = {ca}\n")
    return refapp.start(config, port), port




def _login(port: int, body: object) -> tuple[int, dict[str, object]]:
    return refapp.ask(port, "/login", body, timeout=15)  # a bind that fails over waits on a dead server


@pytest.fixture
def app(tmp_path: Path, directory: tuple[int, Path]) -> Iterator[int]:
    port, ca = directory
    # the first server is down: the login goes on to the second, as when a directory host is stopped
    proc, app_port = _start(tmp_path, [f"ldaps://127.0.0.1:{free_port()}",
                                       f"ldaps://127.0.0.1:{port}"], ca)
    yield app_port
    proc.terminate()
    proc.wait(timeout=10)


def test_a_directory_account_logs_in_and_a_wrong_password_does_not(app: int) -> None:
    port = app
    status, body = _login(port, {"user": "phamthingoc", "password": "pw-account_phamthingoc_password"})
    assert (status, body["user"], body["name"]) == (200, "phamthingoc", "Phạm Thị Ngọc")
    assert _login(port, {"user": "phamthingoc", "password": "wrong-password"})[0] == 401
    # an empty password would be an unauthenticated bind, which LDAP answers with success
    assert _login(port, {"user": "phamthingoc", "password": ""})[0] == 401
    assert _login(port, {"user": "nobody", "password": "pw-account_phamthingoc_password"})[0] == 401
    assert _login(port, {"user": "x,ou=people", "password": "p"})[0] == 401  # no DN injection
    assert _login(port, {"name": "phamthingoc"})[0] == 400


def test_the_password_is_never_logged(tmp_path: Path, directory: tuple[int, Path]) -> None:
    proc, port = _start(tmp_path, [f"ldaps://127.0.0.1:{directory[0]}"], directory[1])
    try:
        assert _login(port, {"user": "phamthingoc", "password": "pw-account_phamthingoc_password"})[0] == 200
        assert _login(port, {"user": "phamthingoc", "password": "wrong-password-xyz"})[0] == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert b"login of phamthingoc accepted" in out and b"login of phamthingoc refused" in out
    assert b"pw-account" not in out and b"wrong-password-xyz" not in out


def test_no_directory_server_up_is_a_503(tmp_path: Path, directory: tuple[int, Path]) -> None:
    proc, port = _start(tmp_path, [f"ldaps://127.0.0.1:{free_port()}"], directory[1])
    try:
        assert _login(port, {"user": "phamthingoc", "password": "pw-account_phamthingoc_password"})[0] == 503
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert b"pw-account_phamthingoc_password" not in out and b"login of phamthingoc" in out


def test_a_plain_ldap_uri_is_refused_by_the_apps_own_check(tmp_path: Path) -> None:
    config = tmp_path / "app.ini"
    config.write_text("[app]\nname = a\nport = 8101\n\n[database]\ndsn = host=x\n\n"
                      f"[directory]\nuris = ldap://10.22.146.12:389\nbase = {BASE}\n")
    result = subprocess.run([SYSTEM_PYTHON, str(REFAPP), "--check", "--config", str(config)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "is not ldaps://HOST:PORT (TLS only)" in result.stderr
