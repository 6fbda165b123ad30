"""The parent side of ``egov deploy``: steps started as their needs are met, several children at
once, rolling groups stopped by a failure or an unhealthy member, and the results merged per host.

The children are real processes (``tests/support/fake_deploy_child.py``: the real child's arguments
and events, no pyinfra); the hosts' SSH sessions (locks and health) are replaced by a health table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from deploys import runner, secret_needs
from deploys.runner import Progress, Rolling, run_deploy
from egov.errors import SecretsError
from egov.secrets import Secrets
from inventory import load_inventory

LAB = load_inventory("inventory/lab.yml")


@pytest.fixture
def child_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "children.jsonl"
    monkeypatch.setenv("EGOV_FAKE_CHILD_LOG", str(log))
    monkeypatch.setattr(runner, "CHILD", "tests.support.fake_deploy_child")
    monkeypatch.setattr(runner, "require_lab_up", lambda inv: None)

    @contextmanager
    def no_sessions(self: Any) -> Iterator[None]:
        yield

    monkeypatch.setattr(runner._Run, "sessions", no_sessions)
    return log


def healthy_unless(monkeypatch: pytest.MonkeyPatch, sick: set[str]) -> list[str]:
    checked: list[str] = []

    def healthy(self: Any, host: str, roles: list[str]) -> tuple[bool, str]:
        checked.append(host)
        return (host not in sick, "" if host not in sick else "web unhealthy: 502 (exit 1)")

    monkeypatch.setattr(runner._Run, "healthy", healthy)
    return checked


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def started(log: Path, host: str, only: str | None = None) -> dict[str, Any]:
    """The (not dry) child that ran ``host``'s step of ``only``."""
    return next(c for c in calls(log) if host in c["hosts"] and c["only"] == only and not c["dry"])


def test_steps_start_when_their_needs_are_met_and_results_merge(child_log: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    checked = healthy_unless(monkeypatch, set())
    events: list[Progress] = []
    result = run_deploy(LAB, on_progress=events.append)
    assert not result.failed and set(result) == set(LAB.hosts)
    # dc-ops1: mirror step, main step, backup step: three changes merged
    assert result["dc-ops1"].data["changes"] == 3
    mirror = started(child_log, "dc-ops1", "base,mirror")
    ntp = started(child_log, "dc-app1", "base,ntp")
    assert mirror["end"] <= ntp["start"]
    # db1 and the districts wait for the same things and start together, each kind of host in a child
    # of its own: a child's hosts end together, and what needs db1 must not wait for the districts
    db1, district = started(child_log, "dc-db1"), started(child_log, "qn-ty-node1")
    assert db1["hosts"] == ["dc-db1"] and sorted(district["hosts"]) == ["qn-dh-node1", "qn-ty-node1"]
    assert abs(db1["start"] - district["start"]) < 1.0
    # rolling: dc-db2 after dc-db1 was checked healthy; dc-app2 after dc-app1
    assert started(child_log, "dc-db1")["end"] <= started(child_log, "dc-db2")["start"]
    assert started(child_log, "dc-app1")["end"] <= started(child_log, "dc-app2")["start"]
    assert {"dc-db1", "dc-app1"} <= set(checked)
    assert len({c["run_id"] for c in calls(child_log)}) == 1  # one run id for the whole run
    assert [e.status for e in events if e.kind == "health"].count("ok") >= 4


def test_a_failed_member_stops_its_pair_and_what_needs_it(child_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    healthy_unless(monkeypatch, set())
    monkeypatch.setenv("EGOV_FAKE_CHILD_FAIL", "dc-db1")
    result = run_deploy(LAB)
    assert result["dc-db1"].failed and result["dc-db1"].error == "operation failed: an op"
    assert "rolling group directory+db stopped after dc-db1 failed" in result["dc-db2"].error
    assert "needs dc-db1" in result["dc-app1"].error and "which failed" in result["dc-app1"].error
    assert not result["qn-ty-node1"].failed and not result["qn-dh-node1"].failed
    assert not any("dc-db2" in c["hosts"] for c in calls(child_log) if not c["dry"])  # probed only


def test_a_dead_node_does_not_stop_the_backup_of_the_others(child_log: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The backup needs every host's main step ended, not succeeded: it pulls the hosts that are up."""
    healthy_unless(monkeypatch, set())
    monkeypatch.setenv("EGOV_FAKE_CHILD_FAIL", "qn-dh-node1")
    result = run_deploy(LAB)
    assert result.failed_targets == ["qn-dh-node1"]
    backup = started(child_log, "dc-ops1", "backup")
    assert started(child_log, "qn-dh-node1")["end"] <= backup["start"]


def test_max_fail_lets_the_pair_go_on(child_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    healthy_unless(monkeypatch, set())
    monkeypatch.setenv("EGOV_FAKE_CHILD_FAIL", "dc-db1")
    result = run_deploy(LAB, rolling=Rolling(max_fail_percent=50))
    assert result["dc-db1"].failed and not result["dc-db2"].failed


def test_an_unhealthy_member_stops_its_pair(child_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # in service before the run, then dc-app1 does not answer after its first step
    asked: list[str] = []

    def healthy(self: Any, host: str, roles: list[str]) -> tuple[bool, str]:
        asked.append(host)
        if host == "dc-app1" and asked.count(host) > 1:
            return False, "web unhealthy: 502 (exit 1)"
        return True, ""

    monkeypatch.setattr(runner._Run, "healthy", healthy)
    result = run_deploy(LAB)
    assert result["dc-app1"].failed and "unhealthy" in result["dc-app1"].error
    assert "rolling group" in result["dc-app2"].error and "stopped" in result["dc-app2"].error


def test_a_first_deploy_is_not_rolled(child_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    healthy_unless(monkeypatch, set(LAB.hosts))  # nothing in service yet
    result = run_deploy(LAB)
    assert not result.failed
    assert started(child_log, "dc-db1")["hosts"] == started(child_log, "dc-db2")["hosts"]  # one child, at once
    assert not any(c["dry"] for c in calls(child_log))  # and not probed: every host has work


def test_a_noop_rerun_is_one_probe_of_every_host(child_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checked = healthy_unless(monkeypatch, set())
    monkeypatch.setenv("EGOV_FAKE_CHILD_IDLE", ",".join(LAB.hosts))
    events: list[Progress] = []
    result = run_deploy(LAB, on_progress=events.append)
    assert not result.failed and set(result) == set(LAB.hosts)
    assert all(r.data["changes"] == 0 and not r.data["dry"] for r in result.values())
    probes = calls(child_log)  # one per core, every host in one of them, all its roles
    assert all(p["dry"] and p["only"] is None for p in probes) and 1 <= len(probes) <= max(1, os.cpu_count() or 1)
    assert sorted(h for p in probes for h in p["hosts"]) == sorted(LAB.hosts)
    # each rolling member was checked once, before the run, and that verdict is reported
    assert sorted(checked) == sorted(set(checked))
    assert {e.host for e in events if e.kind == "health"} == set(checked)
    assert sorted(e.host for e in events if e.kind == "done") == sorted(LAB.hosts)


def test_only_the_hosts_with_changes_run_and_still_roll(child_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    healthy_unless(monkeypatch, set())
    changing = {"dc-db1", "dc-db2", "qn-ty-node1"}
    monkeypatch.setenv("EGOV_FAKE_CHILD_IDLE", ",".join(set(LAB.hosts) - changing))
    result = run_deploy(LAB)
    assert not result.failed
    ran = {h for c in calls(child_log) if not c["dry"] for h in c["hosts"]}
    assert ran == changing
    assert started(child_log, "dc-db1")["end"] <= started(child_log, "dc-db2")["start"]  # one after the other
    assert [result[h].data["changes"] for h in sorted(changing)] == [1, 1, 1]


def test_an_idle_member_unhealthy_before_the_run_stops_its_pair(child_log: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    healthy_unless(monkeypatch, {"dc-db1"})
    monkeypatch.setenv("EGOV_FAKE_CHILD_IDLE", ",".join(set(LAB.hosts) - {"dc-db2"}))
    result = run_deploy(LAB)
    assert result["dc-db1"].failed and result["dc-db1"].error == "before the run: web unhealthy: 502 (exit 1)"
    assert "rolling group directory+db stopped after dc-db1 failed" in result["dc-db2"].error
    assert not any("dc-db2" in c["hosts"] for c in calls(child_log) if not c["dry"])


def test_a_missing_secret_is_refused_before_any_host(child_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = load_inventory("inventory/quangninh.yml")
    for name in ("DB_REPLICATION_PASSWORD", "DB_BACKUP_PASSWORD", "BACKUP_SSH_SEED"):
        monkeypatch.delenv(f"EGOV_SECRET_{name}", raising=False)
    monkeypatch.delenv("EGOV_SECRETS_FILE", raising=False)
    with pytest.raises(SecretsError) as error:
        run_deploy(inv, ["db"])
    assert error.value.exit_code == 2
    assert "secret 'db_replication_password' is not set" in str(error.value) and "needed by" in str(error.value)
    assert not child_log.exists()


def test_a_short_ntp_key_seed_is_refused_before_any_host(child_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The time servers' deploy derives every vendor router's key from the seed: one too short for
    ``net render`` is refused here too, not written into chrony's key file."""
    inv = load_inventory("inventory/quangninh.yml")
    monkeypatch.delenv("EGOV_SECRETS_FILE", raising=False)
    monkeypatch.setenv("EGOV_SECRET_NTP_KEY_SEED", "fifteen-chars15")
    with pytest.raises(SecretsError) as error:
        run_deploy(inv, ["ntp"])
    assert error.value.exit_code == 2
    assert "secret 'ntp_key_seed' is shorter than 16 characters" in str(error.value), error.value
    assert "dc-dns1" in str(error.value) and not child_log.exists()
    monkeypatch.setenv("EGOV_SECRET_NTP_KEY_SEED", "sixteen-chars-16")
    try:
        secret_needs.check(inv, [inv.hosts["dc-dns1"]], Secrets())
    except SecretsError as exc:  # the host's other roles' secrets may be unset here: not this test's
        assert "ntp_key_seed" not in str(exc), exc


def test_sigint_starts_nothing_new_and_reports_the_hosts_left(child_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import signal

    healthy_unless(monkeypatch, set(LAB.hosts))
    monkeypatch.setenv("EGOV_FAKE_CHILD_SECONDS", "0.5")
    before = signal.getsignal(signal.SIGINT)  # the default, or SIG_IGN in a background job (nohup, CI)

    def ctrl_c_in_the_ntp_step(event: Progress) -> None:
        # Ctrl-C as the time servers' step begins: dc-app1 finishes its operation, dc-app2 is left
        # mid-way, every later step is not started (dc-app1's main step too)
        if event.kind == "plan" and event.host == "dc-app1":
            os.kill(os.getpid(), signal.SIGINT)

    result = run_deploy(LAB, on_progress=ctrl_c_in_the_ntp_step)
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is back
    assert result["dc-app1"].data["changes"] == 1
    assert result["dc-app1"].error == "not started: the run was interrupted (SIGINT)"
    assert result["dc-app2"].failed and "interrupted" in result["dc-app2"].error
    assert result["dc-db1"].error == "not started: the run was interrupted (SIGINT)"
    assert [c["only"] for c in calls(child_log)] == ["base,mirror", "base,ntp"]  # and no probe: none in service
