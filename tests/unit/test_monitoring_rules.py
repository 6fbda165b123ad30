"""Alert rules: promtool check rules, promtool test rules for every alert, required annotations."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from monitoring.rules import alerts, rule_groups
from monitoring.settings import settings_from

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "monitoring" / "rules_test.yml"
SETTINGS = settings_from({}, "quangninh.gov.vn")  # the defaults the fixture's expectations assume


@pytest.fixture(autouse=True)
def promtool() -> None:
    """promtool is part of the test setup (.ci/run installs it): missing is a failure, not a skip."""
    if shutil.which("promtool") is None:
        pytest.fail("promtool is missing: apt-get install prometheus")


def _write(tmp_path: Path) -> Path:
    (tmp_path / "egov.yml").write_text(yaml.safe_dump(rule_groups(SETTINGS), sort_keys=False, allow_unicode=True))
    shutil.copy(FIXTURE, tmp_path / "rules_test.yml")
    return tmp_path


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_check_rules(tmp_path: Path) -> None:
    proc = _promtool("check", "rules", "egov.yml", cwd=_write(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(alerts(SETTINGS)) + 7} rules found" in proc.stdout


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    proc = _promtool("test", "rules", "rules_test.yml", cwd=_write(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_unit_tests_catch_a_changed_threshold(tmp_path: Path) -> None:
    """The tests can fail: a backup limit of 30 h instead of 26 h breaks BackupTooOld's case."""
    changed = settings_from({"monitoring__backup_max_age_hours": 30}, "quangninh.gov.vn")
    _write(tmp_path)
    (tmp_path / "egov.yml").write_text(yaml.safe_dump(rule_groups(changed), sort_keys=False))
    proc = _promtool("test", "rules", "rules_test.yml", cwd=tmp_path)
    assert proc.returncode != 0 and "alertname: BackupTooOld" in proc.stdout + proc.stderr


def test_every_alert_has_a_firing_test_case() -> None:
    cases = yaml.safe_load(FIXTURE.read_text())["tests"]
    fired = {t["alertname"] for case in cases for t in case.get("alert_rule_test", []) if t["exp_alerts"]}
    assert {a.name for a in alerts(SETTINGS)} <= fired


def test_every_alert_has_severity_summary_description_runbook() -> None:
    (_, group) = rule_groups(SETTINGS)["groups"]
    for rule in group["rules"]:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}, rule["alert"]
        assert rule["annotations"]["runbook_url"].endswith("#" + rule["alert"].lower())
    runbook = (Path(__file__).resolve().parents[2] / "docs" / "monitoring.md").read_text()
    for rule in group["rules"]:  # every runbook anchor exists in the docs
        assert f'<a id="{rule["alert"].lower()}"></a>' in runbook, rule["alert"]
