"""The custom pyinfra operations and facts as data: facts in, commands out (pyinfra's own test shape)."""

from __future__ import annotations

import hashlib
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api.command import FileUploadCommand, StringCommand
from pyinfra.context import ctx_host
from pyinfra.facts.files import File, Sha1File

from deploys.context import run_id
from deploys.facts.postgres import PgConnect, PgDatabases, PgInRecovery, PgMemberships, PgRoles
from deploys.facts.system import ContainerKind, Ipv4Addresses
from deploys.ops import config, postgres
from deploys.ops.config import checked_file, pending_marker
from tests.support.fake_host import FakeHost


def run(op: Any, facts: dict[Any, Any], **kwargs: Any) -> tuple[list[Any], list[str]]:
    host = FakeHost(facts=facts)
    with ctx_host.use(host):
        commands: Iterator[Any] = op._inner(**kwargs)
        out = [c if not isinstance(c, str) else StringCommand(c.strip()) for c in commands]
    return [c.get_raw_value() if isinstance(c, StringCommand) else c for c in out], host.noops


# --- checked_file -------------------------------------------------------------------------------
# The commands run for real, in a scratch directory on this machine (as root, which unshare and
# mount need, as on a host): what a host would do, including interruptions between two commands.

CONTENT = "PermitRootLogin prohibit-password\n"
SHA1 = hashlib.sha1(CONTENT.encode()).hexdigest()
PATH = "/etc/ssh/sshd_config.d/10-egov.conf"
FILE_OK = {"mode": 644, "user": "root", "group": "root"}


def test_checked_file_noop_when_content_and_owner_match() -> None:
    commands, noops = run(checked_file, {(File, PATH): FILE_OK, (Sha1File, PATH): SHA1,
                                         (File, pending_marker(PATH)): None},
                          path=PATH, content=CONTENT, check="sshd -t", reload="systemctl reload ssh")
    assert commands == [] and noops == [f"{PATH} is up to date"]


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(config, "PENDING_DIR", str(tmp_path / "pending"))
    (tmp_path / "etc").mkdir()
    return tmp_path


def execute(commands: list[Any], stop_after: str = "") -> int:
    """Run the op's commands as a host would; stop (as if interrupted) after the first command
    containing ``stop_after``. The exit status of the last command run."""
    for command in commands:
        if isinstance(command, FileUploadCommand):
            assert not isinstance(command.src, str)
            command.src.seek(0)
            Path(command.dest).write_text(command.src.read())
            continue
        rc = subprocess.run(["sh", "-c", command], capture_output=True, text=True).returncode
        if rc != 0:
            return rc
        if stop_after and stop_after in command:
            break
    return 0


def facts_of(path: Path) -> dict[Any, Any]:
    """The facts a host would give for ``path`` and its pending marker (owner as the file's)."""
    marker = Path(pending_marker(str(path)))
    if not path.exists():
        return {(File, str(path)): None, (File, str(marker)): None}
    st = path.stat()
    return {(File, str(path)): {"mode": int(f"{st.st_mode & 0o777:o}"), "user": "root", "group": "root"},
            (Sha1File, str(path)): hashlib.sha1(path.read_bytes()).hexdigest(),
            (File, str(marker)): {"mode": 644} if marker.exists() else None}


def test_checked_file_checks_the_new_file_at_its_live_path_before_it_is_live(scratch: Path) -> None:
    live = scratch / "etc" / "a.conf"
    live.write_text("old\n")
    seen = scratch / "seen"
    # a checker that reads the live path (no {path}), as sshd -t or nginx -t do, and records what it saw
    check = f"cat {live} > {seen}; grep -q new {live}"
    commands, _ = run(checked_file, facts_of(live), path=str(live), content="new\n", check=check, reload="true")
    assert execute(commands) == 0
    assert seen.read_text() == "new\n" and live.read_text() == "new\n"
    assert [p.name for p in (scratch / "etc").iterdir()] == ["a.conf"]  # no side file left
    assert not Path(pending_marker(str(live))).exists()


def test_checked_file_refused_leaves_the_live_file_untouched(scratch: Path) -> None:
    live = scratch / "etc" / "a.conf"
    live.write_text("old\n")
    commands, _ = run(checked_file, facts_of(live), path=str(live), content="broken\n",
                      check="! grep -q broken {path}", reload=f"touch {scratch}/reloaded")
    assert execute(commands) == 1
    assert live.read_text() == "old\n" and not (scratch / "reloaded").exists()
    assert [p.name for p in (scratch / "etc").iterdir()] == ["a.conf"]


def test_checked_file_side_directory_is_this_runs_own_and_private(scratch: Path) -> None:
    live = scratch / "etc" / "a.conf"
    commands, _ = run(checked_file, facts_of(live), path=str(live), content="x\n")
    side_dir = scratch / "etc" / f".egov-{run_id()}"
    assert commands[0] == f"mkdir -p -m 700 {side_dir}"
    assert isinstance(commands[1], FileUploadCommand) and commands[1].dest == f"{side_dir}/a.conf"
    execute(commands[:1])
    assert side_dir.stat().st_mode & 0o777 == 0o700


def test_checked_file_interrupted_before_the_reload_reloads_on_the_next_run(scratch: Path) -> None:
    live = scratch / "etc" / "a.conf"
    live.write_text("old\n")
    reload = f"touch {scratch}/reloaded"
    commands, _ = run(checked_file, facts_of(live), path=str(live), content="new\n", check="grep -q new {path}",
                      reload=reload)
    execute(commands, stop_after="mv -f")  # killed between the rename and the reload
    assert live.read_text() == "new\n" and not (scratch / "reloaded").exists()
    again, noops = run(checked_file, facts_of(live), path=str(live), content="new\n", check="grep -q new {path}",
                       reload=reload)
    assert again == [reload, f"rm -f {pending_marker(str(live))}"] and noops == []
    assert execute(again) == 0 and (scratch / "reloaded").exists()
    third, noops = run(checked_file, facts_of(live), path=str(live), content="new\n", reload=reload)
    assert third == [] and noops == [f"{live} is up to date"]


def test_checked_file_interrupted_before_the_rename_leaves_the_old_file(scratch: Path) -> None:
    live = scratch / "etc" / "a.conf"
    live.write_text("old\n")
    commands, _ = run(checked_file, facts_of(live), path=str(live), content="new\n", check="grep -q new {path}",
                      reload="true")
    execute(commands, stop_after="unshare")  # checked, then killed
    assert live.read_text() == "old\n"
    again, _ = run(checked_file, facts_of(live), path=str(live), content="new\n", check="grep -q new {path}",
                   reload="true")
    assert execute(again) == 0 and live.read_text() == "new\n"


def test_checked_file_check_live_puts_the_old_file_back_when_refused(scratch: Path) -> None:
    live = scratch / "etc" / "a.conf"
    live.write_text("old\n")
    commands, _ = run(checked_file, facts_of(live), path=str(live), content="broken\n",
                      check=f"! grep -q broken {live}", reload="true", check_live=True)
    assert execute(commands) == 1
    assert live.read_text() == "old\n" and not Path(pending_marker(str(live))).exists()
    assert [p.name for p in (scratch / "etc").iterdir()] == ["a.conf"]


def test_checked_file_mode_change_alone_rewrites() -> None:
    commands, _ = run(checked_file, {(File, PATH): {**FILE_OK, "mode": 600}, (Sha1File, PATH): SHA1},
                      path=PATH, content=CONTENT)
    assert any("chmod 644" in c for c in commands if isinstance(c, str))


def test_checked_file_check_with_quotes_stays_one_shell_word() -> None:
    check = "test \"$(psql -c 'select 1')\" = 1"
    commands, _ = run(checked_file, {(File, "/etc/a.conf"): None}, path="/etc/a.conf", content="x\n", check=check)
    for command in commands:
        if isinstance(command, str):
            shlex.split(command)  # raises on unbalanced quotes (the bug the lab found)


def test_checked_file_refuses_relative_path() -> None:
    from pyinfra.api import OperationValueError

    with pytest.raises(OperationValueError, match="absolute"):
        run(checked_file, {}, path="etc/a.conf", content="x")


# --- postgres ops -------------------------------------------------------------------------------


def test_scram_verifier_matches_only_its_password() -> None:
    v = postgres.scram_verifier("s3cret-pw")
    assert v.startswith("SCRAM-SHA-256$4096:")
    assert postgres.verifier_matches(v, "s3cret-pw")
    assert not postgres.verifier_matches(v, "other-pw")
    assert not postgres.verifier_matches("md5abc", "s3cret-pw")


def test_scram_verifier_salts_differ() -> None:
    a, b = postgres.scram_verifier("pencil"), postgres.scram_verifier("pencil")
    assert a != b and postgres.verifier_matches(a, "pencil") and postgres.verifier_matches(b, "pencil")


def test_role_created_with_a_verifier_never_the_password() -> None:
    commands, _ = run(postgres.role, {PgRoles: {}}, role="portal", password="p0rtal-pw")
    import shlex

    assert len(commands) == 1
    sql = shlex.split(commands[0])[-1]
    assert sql.startswith("CREATE ROLE \"portal\" LOGIN NOREPLICATION PASSWORD 'SCRAM-SHA-256$4096:")
    assert postgres.verifier_matches(sql.split("'")[1], "p0rtal-pw")
    assert "p0rtal-pw" not in commands[0]


def test_role_noop_when_password_matches() -> None:
    facts = {PgRoles: {"portal": {"password": postgres.scram_verifier("p0rtal-pw"), "login": True,
                                  "replication": False}}}
    commands, noops = run(postgres.role, facts, role="portal", password="p0rtal-pw")
    assert commands == [] and noops


def test_role_altered_when_password_changed() -> None:
    facts = {PgRoles: {"portal": {"password": postgres.scram_verifier("old-pw"), "login": True,
                                  "replication": False}}}
    commands, _ = run(postgres.role, facts, role="portal", password="new-pw")
    assert commands[0].startswith("runuser -u postgres -- psql") and "ALTER ROLE \"portal\"" in commands[0]


def test_database_created_closed_to_public() -> None:
    commands, _ = run(postgres.database, {PgDatabases: {"postgres": "postgres"}}, database="portal", owner="portal")
    assert commands[0] == "runuser -u postgres -- createdb -O portal portal"
    assert "REVOKE ALL ON DATABASE" in commands[1]


def test_database_noop_and_owner_fix() -> None:
    assert run(postgres.database, {PgDatabases: {"portal": "portal"}}, database="portal", owner="portal")[0] == []
    commands, _ = run(postgres.database, {PgDatabases: {"portal": "postgres"}}, database="portal", owner="portal")
    assert "ALTER DATABASE \"portal\" OWNER TO \"portal\"" in commands[0]


def test_grants() -> None:
    assert run(postgres.grant_role, {PgMemberships: {("pg_read_all_data", "egov_backup")}},
               role="pg_read_all_data", member="egov_backup")[0] == []
    assert "GRANT \"pg_read_all_data\" TO \"egov_backup\"" in run(
        postgres.grant_role, {}, role="pg_read_all_data", member="egov_backup")[0][0]
    assert run(postgres.grant_connect, {PgConnect: {("portal", "egov_backup")}},
               database="portal", role="egov_backup")[0] == []
    assert "GRANT CONNECT ON DATABASE \"portal\"" in run(
        postgres.grant_connect, {}, database="portal", role="egov_backup")[0][0]


# --- facts: raw output in, parsed fact out --------------------------------------------------------


def test_fact_pg_roles() -> None:
    parsed = PgRoles().process(["postgres||t|t", "portal|SCRAM-SHA-256$4096:x$y:z|t|f", "pg_monitor||f|f"])
    assert parsed["portal"] == {"password": "SCRAM-SHA-256$4096:x$y:z", "login": True, "replication": False}
    assert parsed["pg_monitor"]["login"] is False


def test_fact_pg_misc() -> None:
    assert PgDatabases().process(["postgres|postgres", "portal|portal"]) == {"postgres": "postgres", "portal": "portal"}
    assert PgInRecovery().process(["t"]) is True and PgInRecovery().process(["f"]) is False
    assert PgInRecovery().process([]) is None
    assert PgMemberships().process(["pg_read_all_data|egov_backup"]) == {("pg_read_all_data", "egov_backup")}


def test_fact_container_and_addresses() -> None:
    assert ContainerKind().process(["docker"]) == "docker"
    assert ContainerKind().process(["none"]) == ""
    lines = ["1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever",
             "119: eth0    inet 10.22.146.10/19 brd 10.22.159.255 scope global eth0\\       valid_lft forever"]
    assert Ipv4Addresses().process(lines) == {"127.0.0.1": "lo", "10.22.146.10": "eth0"}
