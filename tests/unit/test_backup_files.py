"""File backups: the scripts run for real here (a local source), and the backup key is stable."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest

from deploys import context, render
from deploys.backup import backup_key
from deploys.context import DeployContext

if TYPE_CHECKING:
    from inventory import Inventory


def test_backup_key_is_the_same_on_every_run_and_changes_with_its_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives import serialization

    from egov.secrets import Secrets, redact

    class Production:
        path = Path("quangninh.yml")
        environment = "production"

    monkeypatch.setenv("EGOV_SECRET_BACKUP_SSH_SEED", "seed one")
    monkeypatch.setattr(context, "_current", DeployContext.of(cast("Inventory", Production()), Secrets()))
    first = backup_key()
    assert backup_key() == first and first[1].startswith("ecdsa-sha2-nistp256 ")
    private = serialization.load_pem_private_key(first[0].encode(), None)
    assert private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                             serialization.PublicFormat.OpenSSH).decode() == first[1]
    body = first[0].splitlines()[1]
    assert body not in redact(f"+{body}")  # a --diff of the key file shows nothing of it
    monkeypatch.setenv("EGOV_SECRET_BACKUP_SSH_SEED", "seed two")
    assert backup_key()[1] != first[1]


def _script(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def test_a_local_source_is_archived_whole_and_logged(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "egov.conf").write_text("kept\n", encoding="utf-8")
    relative = str(tmp_path.relative_to("/"))
    files_out = _script(tmp_path / "files-out", render("backup", "egov-files-out.sh.j2",
                                                        paths=[f"{relative}/etc", f"{relative}/absent"]))
    pull = _script(tmp_path / "backup-files", render(
        "backup", "egov-backup-files.sh.j2", directory=str(tmp_path / "backups"), retention_days=30,
        sources=[("dc-ops1", ""), ("dc-app1", "")], known_hosts="/dev/null", key="/dev/null",
        files_out=str(files_out)))
    ready = subprocess.run([str(pull), "--ready", "dc-ops1"], capture_output=True, text=True, check=False)
    assert (ready.returncode, ready.stdout) == (0, "dc-ops1\n") and not (tmp_path / "backups" / "files").exists()
    done = subprocess.run([str(pull), "dc-ops1"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    [archive] = (tmp_path / "backups" / "files" / "dc-ops1").iterdir()
    assert archive.name.startswith("dc-ops1-") and archive.name.endswith(".tar.gz")
    with tarfile.open(archive) as tar:
        assert f"{relative}/etc/egov.conf" in tar.getnames()
    assert not (tmp_path / "backups" / "files" / "dc-app1").exists()  # not asked for
    assert " dc-ops1 OK " in (tmp_path / "backups" / "files-backup.log").read_text(encoding="utf-8")


def test_a_failed_pull_leaves_no_partial_archive_and_fails_the_run(tmp_path: Path) -> None:
    broken = _script(tmp_path / "files-out", "#!/bin/sh\necho 'not a tar'\nexit 3\n")
    pull = _script(tmp_path / "backup-files", render(
        "backup", "egov-backup-files.sh.j2", directory=str(tmp_path / "backups"), retention_days=30,
        sources=[("dc-ops1", "")], known_hosts="/dev/null", key="/dev/null", files_out=str(broken)))
    assert subprocess.run([str(pull)], capture_output=True, check=False).returncode == 1
    assert list((tmp_path / "backups" / "files" / "dc-ops1").iterdir()) == []
    assert " dc-ops1 FAIL" in (tmp_path / "backups" / "files-backup.log").read_text(encoding="utf-8")


def test_archived_hosts_are_the_ones_with_an_archive(tmp_path: Path) -> None:
    """The fact the backup deploy reads, run in this machine's shell on a real store."""
    from deploys.facts.backup import ArchivedHosts

    for host, name in (("dc-db1", "dc-db1-20261201T010000.tar.gz"), ("qn-ty-node1", "a.tar.gz"),
                       ("dc-app1", "dc-app1-x.tar.gz.part")):  # a pull cut short is no archive
        (tmp_path / "files" / host).mkdir(parents=True)
        (tmp_path / "files" / host / name).write_bytes(b"")
    fact = ArchivedHosts()
    done = subprocess.run(["sh", "-c", fact.command(str(tmp_path))], capture_output=True, text=True, check=True)
    assert fact.process(done.stdout.splitlines()) == {"dc-db1", "qn-ty-node1"}
    empty = subprocess.run(["sh", "-c", fact.command(str(tmp_path / "none"))], capture_output=True, text=True,
                           check=True)
    assert fact.process(empty.stdout.splitlines()) == frozenset()
    assert "anyone" in ArchivedHosts.rehearsal_default()  # a rehearsal asks no readiness
