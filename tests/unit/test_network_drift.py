"""Router drift from the network package's diff, written for the exporter to read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import network.drift
from cli import main
from egov.errors import MonitoringError
from egov.results import Result, RunResult
from inventory import load_inventory
from monitoring.exporter.sources import read_drift_file
from network.drift import network_drift, write_drift_file

LAB = Path(__file__).resolve().parents[2] / "inventory" / "lab.yml"


@pytest.fixture
def fake_diff(monkeypatch: pytest.MonkeyPatch) -> dict[str, Result]:
    """The push's diff answering from this dict (no router is contacted)."""
    answers: dict[str, Result] = {}
    calls: list[list[str]] = []

    def diff(inv: Any, routers: list[Any], opts: Any) -> RunResult:
        calls.append([r.name for r in routers])
        return RunResult((r.name, answers[r.name]) for r in routers)

    monkeypatch.setattr(network.drift, "diff", diff)
    monkeypatch.setattr(network.drift.Options, "for_inventory", classmethod(lambda cls, inv, *a, **k: None))
    answers["_calls"] = calls  # type: ignore[assignment]
    return answers


def test_drift_counts_lines_and_leaves_out_unreadable_routers(fake_diff: dict[str, Result]) -> None:
    inv = load_inventory(LAB)
    for name in inv.routers:
        fake_diff[name] = Result(name, data={"lines": 0, "status": "no changes"})
    fake_diff["qn-ty-r1"] = Result("qn-ty-r1", changed=True, diff="a\nb\nc", data={"lines": 3})
    fake_diff["qn-dh-r1"] = Result("qn-dh-r1", failed=True, error="cannot connect")
    drift = network_drift(inv)
    assert drift["qn-ty-r1"] == 3 and drift["qn-core1"] == 0
    assert "qn-dh-r1" not in drift and len(drift) == len(inv.routers) - 1


def test_drift_with_no_router_readable_is_an_error(fake_diff: dict[str, Result]) -> None:
    inv = load_inventory(LAB)
    for name in inv.routers:
        fake_diff[name] = Result(name, failed=True, error="timeout")
    with pytest.raises(MonitoringError, match="no router could be read"):
        network_drift(inv)


def test_drift_file_round_trip_and_cli(fake_diff: dict[str, Result], tmp_path: Path) -> None:
    inv = load_inventory(LAB)
    for name in inv.routers:
        fake_diff[name] = Result(name, data={"lines": 2 if name == "qn-core2" else 0})
    out = tmp_path / "drift" / "drift.json"
    write_drift_file({"qn-core2": 2}, out)
    assert read_drift_file(str(out)) == {"qn-core2": 2}
    result = CliRunner().invoke(main, ["monitor", "drift", "-i", str(LAB), "--limit", "qn-core1", "--limit", "qn-core2",
                                       "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert read_drift_file(str(out)) == {"qn-core1": 0, "qn-core2": 2}  # only the limited routers
    assert fake_diff["_calls"][-1] == ["qn-core1", "qn-core2"]  # type: ignore[index]
