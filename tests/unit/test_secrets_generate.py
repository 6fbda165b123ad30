"""Production's secrets: `egov secrets missing` lists what a deploy reads and is not set,
`egov secrets generate` adds it to a 0600 file, once, keeping what the file held; no value is printed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

import cli
from deploys.secret_needs import needed
from egov.errors import SecretsError
from egov.secrets import Secrets, add_generated
from inventory import load_inventory

PROVINCE = "inventory/quangninh-2025.yml"


@pytest.fixture(autouse=True)
def no_secrets_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("EGOV_SECRET")]:
        monkeypatch.delenv(key)


def _secrets_file(tmp_path: Path, text: str, mode: int) -> Path:
    path = tmp_path / "secrets.yml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_generate_adds_every_missing_secret_once_and_prints_no_value(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = _secrets_file(tmp_path, "# the NOC's own\ndb_backup_password: 'set-by-hand-1234'\n", 0o600)
    assert cli.run(["secrets", "missing", "-i", PROVINCE, "--secrets", str(path)]) == 1
    assert "account_nguyenvanan_password" in capsys.readouterr().out  # a roster's person

    assert cli.run(["secrets", "generate", "-i", PROVINCE, "--secrets", str(path)]) == 0
    out = capsys.readouterr().out
    stored = yaml.safe_load(path.read_text())
    inv = load_inventory(PROVINCE)
    assert set(stored) == set(needed(inv, inv.hosts.values()))
    assert stored["db_backup_password"] == "set-by-hand-1234" and path.read_text().startswith("# the NOC's own\n")
    assert all(isinstance(v, str) and len(v) >= 32 for k, v in stored.items() if k != "db_backup_password")
    assert not any(value in out for value in stored.values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["secrets.yml", "secrets.yml.lock"]  # no half-written file left

    assert cli.run(["secrets", "generate", "-i", PROVINCE, "--secrets", str(path)]) == 0
    assert "0 secrets added" in capsys.readouterr().out
    assert yaml.safe_load(path.read_text()) == stored
    assert cli.run(["secrets", "missing", "-i", PROVINCE, "--secrets", str(path)]) == 0


def test_a_secret_set_in_the_environment_is_not_generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGOV_SECRET_DIRECTORY_ADMIN_PASSWORD", "from-the-vault-5678")
    path = tmp_path / "secrets.yml"
    assert cli.run(["secrets", "generate", "-i", PROVINCE, "--limit", "dc", "--secrets", str(path)]) == 0
    assert "directory_admin_password" not in yaml.safe_load(path.read_text())


def test_a_new_file_is_the_one_read_not_the_environments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = _secrets_file(tmp_path, "directory_admin_password: 'in-another-file-9012'\n", 0o600)
    monkeypatch.setenv("EGOV_SECRETS_FILE", str(other))
    path = tmp_path / "new" / "secrets.yml"
    path.parent.mkdir()
    assert cli.run(["secrets", "generate", "-i", PROVINCE, "--limit", "dc", "--secrets", str(path)]) == 0
    assert "directory_admin_password" in yaml.safe_load(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_others_can_read_is_refused_and_left_as_it_was(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = _secrets_file(tmp_path, "db_backup_password: 'set-by-hand-1234'\n", 0o644)
    assert cli.run(["secrets", "generate", "-i", PROVINCE, "--secrets", str(path)]) == 2
    assert "chmod 600" in capsys.readouterr().err
    assert path.read_text() == "db_backup_password: 'set-by-hand-1234'\n"
    with pytest.raises(SecretsError):
        add_generated(path, ["x_password"])


def test_processes_adding_at_once_keep_every_value(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yml"
    got: dict[str, str] = {}

    def add(n: int) -> None:
        got.update(add_generated(path, [f"s{n}_password", "shared_password"]))

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = Secrets._read_file(path)
    assert stored == got and len(stored) == 9  # one shared value, never generated twice


GREENLETS = """
from gevent import monkey; monkey.patch_all()
import gevent, sys
from pathlib import Path
from egov.secrets import add_generated
path = Path(sys.argv[1])
jobs = [gevent.spawn(add_generated, path, ["shared_password", f"s{n}_password"]) for n in range(6)]
gevent.joinall(jobs, timeout=10)
print(sum(job.successful() for job in jobs))
"""


def test_a_deploys_greenlets_adding_at_once_do_not_lock_each_other_out(tmp_path: Path) -> None:
    """The deploy child runs its hosts as gevent greenlets in one process (found hung in flock)."""
    proc = subprocess.run([sys.executable, "-c", GREENLETS, str(tmp_path / "secrets.yml")], capture_output=True,
                          text=True, timeout=30, cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout.strip() == "6", proc.stderr
    assert len(Secrets._read_file(tmp_path / "secrets.yml")) == 7
