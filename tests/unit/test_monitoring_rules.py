"""Alert rules: promtool check rules, promtool test rules for every alert (firing and not yet
firing, a healthy fleet where nothing fires), required annotations, runbooks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from inventory import load_inventory
from monitoring.config import expected
from monitoring.rules import Expected, rule_groups
from monitoring.settings import settings_from
from monitoring.targets import build_plan, probe_targets

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "monitoring" / "rules_test.yml"
SETTINGS = settings_from({}, "quangninh.gov.vn")  # the defaults the fixture's expectations assume
DC = {"site": "dc", "level": "province", "zone": "dc"}
# What the fixture's series stand for (its header says so); the generated rules for it
EXPECTED = Expected(routers=[("qn-core1", DC)], endpoints=[("blackbox_http_2xx", "portal", DC)],
                    apps=[("portal", DC)], tls=[("dc-app1:8443", {**DC, "instance": "dc-app1"})],
                    backups=[("dc-ops1", "docmgmt", DC), ("dc-ops1", "portal", DC)])
# Always firing: it has no "not yet" (its absence is what the dead man's switch notices)
ALWAYS = {"Watchdog"}


@pytest.fixture(autouse=True)
def promtool() -> None:
    """promtool is part of the test setup (.ci/run installs it): missing is a failure, not a skip."""
    if shutil.which("promtool") is None:
        pytest.fail("promtool is missing: apt-get install prometheus")


def _rules(settings=SETTINGS) -> dict:
    return rule_groups(settings, EXPECTED)


def _alert_rules() -> list[dict]:
    return [r for g in _rules()["groups"] for r in g["rules"] if "alert" in r]


def _write(tmp_path: Path, settings=SETTINGS) -> Path:
    (tmp_path / "egov.yml").write_text(yaml.safe_dump(_rules(settings), sort_keys=False, allow_unicode=True))
    shutil.copy(FIXTURE, tmp_path / "rules_test.yml")
    return tmp_path


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_check_rules(tmp_path: Path) -> None:
    proc = _promtool("check", "rules", "egov.yml", cwd=_write(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    total = sum(len(g["rules"]) for g in _rules()["groups"])
    assert f"SUCCESS: {total} rules found" in proc.stdout


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    proc = _promtool("test", "rules", "rules_test.yml", cwd=_write(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_unit_tests_catch_a_changed_threshold(tmp_path: Path) -> None:
    """The tests can fail: a backup limit of 30 h instead of 26 h breaks BackupTooOld's case."""
    changed = settings_from({"monitoring__backup_max_age_hours": 30}, "quangninh.gov.vn")
    proc = _promtool("test", "rules", "rules_test.yml", cwd=_write(tmp_path, changed))
    assert proc.returncode != 0 and "alertname: BackupTooOld" in proc.stdout + proc.stderr


def test_the_healthy_fleet_catches_an_alert_that_fires_on_good_values(tmp_path: Path) -> None:
    """The healthy case can fail: a free-space threshold above the healthy disk's 60 % fires DiskAlmostFull."""
    changed = settings_from({"monitoring__disk_critical_ratio": 0.7}, "quangninh.gov.vn")
    proc = _promtool("test", "rules", "rules_test.yml", cwd=_write(tmp_path, changed))
    assert proc.returncode != 0
    assert 'alertname="DiskAlmostFull"' in proc.stdout + proc.stderr


def test_every_alert_has_a_firing_and_a_not_yet_firing_case() -> None:
    cases = yaml.safe_load(FIXTURE.read_text())["tests"]
    checks = [t for case in cases for t in case.get("alert_rule_test", [])]
    fired = {t["alertname"] for t in checks if t["exp_alerts"]}
    quiet = {t["alertname"] for t in checks if not t["exp_alerts"]}
    names = {r["alert"] for r in _alert_rules()}
    assert names - fired == set(), "no firing case"
    assert names - quiet - ALWAYS == set(), "no not-yet-firing case"
    healthy = next(c for c in cases if c["name"] == "a healthy fleet pages nobody")
    assert {"expr": 'ALERTS{alertname!="Watchdog"}', "eval_time": "60m", "exp_samples": []} in healthy[
        "promql_expr_test"]


def test_every_alert_has_severity_summary_description_runbook() -> None:
    runbook = (ROOT / "docs" / "monitoring.md").read_text()
    for rule in _alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in (("none",) if name in ALWAYS else ("critical", "warning")), name
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}, name
        assert rule["annotations"]["runbook_url"].endswith("#" + name.lower())
        assert f'<a id="{name.lower()}"></a>' in runbook, f"{name} has no runbook in docs/monitoring.md"


def test_expected_series_come_from_the_inventory() -> None:
    """Every router, application host, TLS port and database of the lab inventory has its rule."""
    inv = load_inventory(ROOT / "inventory" / "lab.yml")
    plan = build_plan(inv)
    (server,) = plan.servers.values()
    exp = expected(inv, server, probe_targets(inv, server))
    assert {r for r, _ in exp.routers} == set(inv.routers)
    assert dict(exp.routers)["qn-ty-tien-yen-r1"] == {"site": "ty-tien-yen", "level": "commune", "zone": "tien-yen"}
    assert {a for a, _ in exp.apps} == {"docmgmt", "onestop", "portal", "specdb"}
    # nginx (8443) and HAProxy (443) on both app hosts, IMAPS on the mail host
    assert {t for t, _ in exp.tls} == {"dc-app1:8443", "dc-app1:443", "dc-app2:8443", "dc-app2:443", "dc-ops1:993",
                                         "dc-db1:636", "dc-db2:636"}
    assert dict(exp.tls)["dc-ops1:993"] == {"site": "dc", "level": "province", "zone": "dc", "instance": "dc-ops1"}
    assert {(h, db) for h, db, _ in exp.backups} == {
        ("dc-ops1", db) for db in ("docmgmt", "onestop", "portal", "specdb")}
    # the lab has no public names (inventory/lab.yml), but its agencies' portals are probed at the VIP, each
    # labelled with its agency's site
    assert exp.endpoints == [
        ("blackbox_http_portal", "snv.quangninh.gov.vn", {"site": "dc", "level": "province", "zone": "dc"}),
        ("blackbox_http_portal", "tienyen.quangninh.gov.vn",
         {"site": "tien-yen", "level": "district", "zone": "tien-yen"})]


def test_a_missing_router_probe_is_an_alert_in_the_generated_rules() -> None:
    rules = rule_groups(SETTINGS, Expected(routers=[("qn-ty-r1", {"site": "tien-yen", "level": "district",
                                                                  "zone": "tien-yen"})]))
    (group,) = [g for g in rules["groups"] if g["name"] == "egov-expected"]
    (rule,) = group["rules"]
    assert 'absent(probe_success{job="icmp_router",instance="qn-ty-r1"})' in rule["expr"]
    assert rule["labels"] == {"severity": "warning", "site": "tien-yen", "level": "district", "zone": "tien-yen",
                              "role": "router", "instance": "qn-ty-r1"}
