"""``node up`` strings the layers together: each step's outcome, skips with their reasons, one verdict.
The layers' own functions are replaced by recorders (the lab is not needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from egov.errors import DeployError
from egov.results import Result, RunResult
from inventory import load_inventory
from workflows import node_up as workflow

LAB = Path(__file__).resolve().parents[2] / "inventory" / "lab.yml"


def _record(monkeypatch: pytest.MonkeyPatch, failing: str = "") -> list[tuple[str, list[str]]]:
    """Replace deploy, push and verify; ``failing`` names the one whose first target fails."""
    calls: list[tuple[str, list[str]]] = []

    def result(step: str, targets: list[str]) -> RunResult:
        calls.append((step, targets))
        return RunResult((t, Result(t, failed=step == failing and i == 0, error="down" if step == failing else ""))
                         for i, t in enumerate(targets))

    class Options:
        @staticmethod
        def for_inventory(inv: Any, secrets: Any) -> None:
            return None

    monkeypatch.setattr(workflow, "run_deploy", lambda inv, limits, **kw: result("deploy", list(limits)))
    monkeypatch.setattr(workflow, "Options", Options)
    monkeypatch.setattr(workflow, "push",
                        lambda inv, routers, options, plan: result("network", [r.name for r in routers]))
    monkeypatch.setattr(workflow, "verify_run", lambda inv, limits: result("verify", list(limits)))
    return calls


def test_node_up_runs_every_step_and_is_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _record(monkeypatch)
    report = workflow.node_up(load_inventory(LAB), "tien-yen")
    assert calls == [("deploy", ["tien-yen"]), ("network", ["qn-ty-r1", "qn-ty-tien-yen-r1", "qn-ty-dong-ngu-r1"]),
                     ("deploy", ["monitoring", "backup"]), ("verify", ["tien-yen"])]
    assert [(s.name, s.status) for s in report.steps] == [
        ("deploy", "ok"), ("network", "ok"), ("register", "ok"), ("verify", "ok")]
    assert report.ready and report.verdict.startswith("READY")
    assert report.to_dict()["steps"][1] == {"name": "network", "status": "ok", "detail": "3 targets"}


def test_a_failed_step_is_named_and_the_later_steps_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    _record(monkeypatch, failing="network")
    report = workflow.node_up(load_inventory(LAB), "tien-yen")
    assert [s.status for s in report.steps] == ["ok", "failed", "ok", "ok"]
    assert report.steps[1].detail == "qn-ty-r1: down"
    assert not report.ready and report.verdict == "NOT READY: network failed"


def test_a_site_without_hosts_skips_deploy_and_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _record(monkeypatch)
    report = workflow.node_up(load_inventory(LAB), "ty-tien-yen")
    assert [(s.name, s.status, s.detail) for s in report.steps] == [
        ("deploy", "skipped", "the site has no hosts"), ("network", "ok", "1 targets"),
        ("register", "ok", "2 targets"), ("verify", "skipped", "the site has no hosts")]
    assert [step for step, _ in calls] == ["network", "deploy"] and report.ready


def test_an_unknown_site_is_named() -> None:
    with pytest.raises(DeployError, match="no site named 'nowhere'"):
        workflow.node_up(load_inventory(LAB), "nowhere")
