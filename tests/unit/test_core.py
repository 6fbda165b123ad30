"""The shared core: secrets are refused when unsafe and redacted everywhere; the runner
keeps going when a target fails; the CLI maps errors to messages and exit codes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from egov.errors import InventoryError, SecretsError
from egov.parallel import run_parallel
from egov.results import Result
from egov.secrets import MASK, Secrets, redact


def test_secrets_file_must_not_be_readable_by_others(tmp_path: Path) -> None:
    f = tmp_path / "s.yml"
    f.write_text("router_password: s3cret-value\n")
    f.chmod(0o644)
    with pytest.raises(SecretsError, match=r"readable by others.*chmod 600"):
        Secrets(f)
    f.chmod(0o600)
    assert Secrets(f).get("router_password") == "s3cret-value"


def test_environment_wins_over_file_and_both_are_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "s.yml"
    f.write_text("db_password: from-the-file\n")
    f.chmod(0o600)
    monkeypatch.setenv("EGOV_SECRET_DB_PASSWORD", "from-the-env")
    s = Secrets(f)
    assert s.get("db_password") == "from-the-env"
    assert redact("a from-the-file b from-the-env") == f"a {MASK} b {MASK}"


def test_missing_secret_names_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(SecretsError, match="EGOV_SECRET_NOPE"):
        Secrets(None).get("nope")
    assert Secrets(None).get("nope", required=False) is None


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "s.yml"
    f.write_text("a: 1\nb: [unclosed\n")
    f.chmod(0o600)
    with pytest.raises(SecretsError, match=r"s\.yml:\d+: \(yaml\)"):
        Secrets(f)


def test_runner_reports_a_failure_and_the_others_carry_on() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def work(name: str) -> Result:
        time.sleep(0.05)
        if name == "bad":
            raise ConnectionError("no route to host")
        with lock:
            seen.append(name)
        return Result(target=name, changed=name == "b")

    run = run_parallel(work, ["a", "bad", "b", "c"], workers=4)
    assert list(run) == ["a", "bad", "b", "c"]
    assert run.failed and run.failed_targets == ["bad"]
    assert "ConnectionError: no route to host" in run["bad"].error
    assert sorted(seen) == ["a", "b", "c"] and run.changed_targets == ["b"]


def test_runner_runs_in_parallel() -> None:
    start = time.monotonic()
    def slow(name: str) -> Result:
        time.sleep(0.2)
        return Result(target=name)

    run_parallel(slow, [str(i) for i in range(10)], workers=10)
    assert time.monotonic() - start < 1.0  # one at a time would take 2 s


def test_runner_sized_to_the_run_has_one_thread_per_target_up_to_the_cap() -> None:
    from egov.parallel import MAX_WORKERS

    seen: set[int] = set()
    lock = threading.Lock()
    barrier = threading.Barrier(12, timeout=5)

    def together(name: str) -> Result:
        barrier.wait()  # passes only when all 12 run at once: one thread per target
        with lock:
            seen.add(threading.get_ident())
        return Result(target=name)

    assert not run_parallel(together, [str(i) for i in range(12)], workers=None).failed
    assert len(seen) == 12
    threads: set[int] = set()

    def count(name: str) -> Result:
        time.sleep(0.01)
        with lock:
            threads.add(threading.get_ident())
        return Result(target=name)

    run_parallel(count, [str(i) for i in range(MAX_WORKERS + 20)], workers=None)
    assert len(threads) <= MAX_WORKERS


def test_runner_redacts_secrets_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGOV_SECRET_TOKEN", "tok-123456")
    Secrets(None)

    def work(name: str) -> Result:
        raise RuntimeError("login failed for password tok-123456")

    assert "tok-123456" not in run_parallel(work, ["r1"])["r1"].error


def test_cli_maps_errors_to_a_message_and_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from cli import main

    @main.command("boom-test")
    def boom() -> None:
        raise InventoryError(["inv.yml:3: sites.0.name: field required", "inv.yml:9: sites.1.parent: no site 'x'"])

    try:
        result = CliRunner().invoke(main, ["boom-test"])
    finally:
        main.commands.pop("boom-test")
    assert result.exit_code == 2
    assert "inv.yml:3: sites.0.name: field required" in result.output
    assert "Traceback" not in result.output
