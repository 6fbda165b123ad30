"""`egov monitor status`, `silence` and `ack` against REAL Prometheus and Alertmanager (Debian's
binaries, started on 127.0.0.1 by tests/support/real_monitoring.py) running our generated rules
and our generated Alertmanager routes and inhibitions for tests/fixtures/monitoring/federated.yml.

The stand-in fleet: the district tien-yen is cut off (its node host and router down), so its
communes' alerts are inhibited by its SiteUnreachable; dam-ha's postgres exporter is down (a
warning); the other sites answer. Prometheus is stopped and started again during --watch.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from inventory import load_inventory
from monitoring.alertmanager import alertmanager_config
from monitoring.rules import Expected, rule_groups
from monitoring.targets import build_plan, site_labels
from tests.support.real_monitoring import Fleet, Servers, get_json, real_servers, wait_for

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "tests" / "fixtures" / "monitoring" / "federated.yml"
UP, DOWN = "up", "down"
# (job, instance, site, up?) of the stand-in fleet
NODES = [("node", "dc-app1", "dc", UP), ("node", "qn-ty-node1", "tien-yen", DOWN),
         ("node", "qn-dh-node1", "dam-ha", UP), ("postgres", "qn-dh-node1", "dam-ha", DOWN)]
ROUTERS = [("qn-core1", "dc", UP), ("qn-ty-r1", "tien-yen", DOWN), ("qn-ty-tien-yen-r1", "ty-tien-yen", DOWN),
           ("qn-ty-dong-ngu-r1", "ty-dong-ngu", DOWN), ("qn-dh-r1", "dam-ha", UP),
           ("qn-dh-dam-ha-r1", "dh-dam-ha", UP), ("qn-dh-quang-tan-r1", "dh-quang-tan", UP)]


def _jobs(inv: Any) -> Any:
    def jobs(fleet: Fleet, dead: int) -> list[dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for job, instance, site, state in NODES:
            port = fleet.port if state == UP else dead
            out.setdefault(job, {"job_name": job, "static_configs": []})["static_configs"].append(
                {"targets": [f"127.0.0.1:{port}"], "labels": {**site_labels(inv, site), "instance": instance}})
        fleet.unreachable.update(name for name, _, state in ROUTERS if state == DOWN)
        out["icmp_router"] = {
            "job_name": "icmp_router", "metrics_path": "/probe",
            "static_configs": [{"targets": [name], "labels": {**site_labels(inv, site), "instance": name}}
                               for name, site, _ in ROUTERS],
            "relabel_configs": [{"source_labels": ["__address__"], "target_label": "__param_target"},
                                {"target_label": "__address__", "replacement": f"127.0.0.1:{fleet.port}"}]}
        return list(out.values())
    return jobs


EXPECTED = {("HostDown", "tien-yen"), ("RouterUnreachable", "tien-yen"), ("SiteUnreachable", "tien-yen"),
            ("RouterUnreachable", "ty-dong-ngu"), ("SiteUnreachable", "ty-dong-ngu"),
            ("RouterUnreachable", "ty-tien-yen"), ("SiteUnreachable", "ty-tien-yen"), ("ExporterDown", "dam-ha"),
            ("Watchdog", None)}  # always firing: the dead man's switch's heartbeat


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    inv = load_inventory(INVENTORY)
    plan = build_plan(inv)
    fast = dataclasses.replace(plan.settings, host_down_for="1s", evaluation_interval="1s")
    # the routers' probes are expected series (monitoring/config.py: expected): one rule each
    routers = Expected(routers=[(name, site_labels(inv, site)) for name, site, _ in ROUTERS])
    with real_servers(rule_groups(fast, routers), alertmanager_config(inv, plan), _jobs(inv)) as s:
        def settled() -> bool:
            alerts = get_json(f"{s.alertmanager}/api/v2/alerts")
            got = {(a["labels"]["alertname"], a["labels"].get("site")) for a in alerts}
            inhibited = [a for a in alerts if a["status"]["inhibitedBy"]]
            return got == EXPECTED and len(inhibited) >= 5
        wait_for("the fleet's alerts at Alertmanager, inhibitions applied", settled, 60, 0.5)
        yield s


def egov(s: Servers, command: str, *args: str) -> Any:
    servers = ["--prometheus", s.prometheus] if command == "status" else []
    return CliRunner().invoke(main, ["monitor", command, *args, "-i", str(INVENTORY), *servers,
                                     "--alertmanager", s.alertmanager])


def test_failing_sites_first_the_rest_folded_and_exit_2(servers: Servers) -> None:
    result = egov(servers, "status", "--json")
    assert result.exit_code == 2, result.output
    report = json.loads(result.output)
    states = {s["site"]: s["state"] for s in report["sites"]}
    assert states == {"dc": "ok", "tien-yen": "critical", "dam-ha": "warning", "ty-tien-yen": "critical",
                      "ty-dong-ngu": "critical", "dh-dam-ha": "ok", "dh-quang-tan": "ok"}
    covered = {s["site"]: s["covered_by"] for s in report["sites"]}
    assert covered["ty-dong-ngu"] == covered["ty-tien-yen"] == "tien-yen" and covered["tien-yen"] is None
    commune = [a for a in report["alerts"] if a["site"] == "ty-dong-ngu" and a["alertname"] == "SiteUnreachable"]
    assert commune[0]["inhibited_by"] == ["SiteUnreachable at tien-yen"]
    assert commune[0]["runbook"].endswith("docs/monitoring.md#siteunreachable")
    assert all(a["seconds"] is not None and a["seconds"] >= 0 for a in report["alerts"])

    table = egov(servers, "status")
    assert table.exit_code == 2
    lines = table.output.splitlines()
    rows = [line for line in lines if line.startswith("│ ") and ("CRITICAL" in line or "WARNING" in line)]
    # tien-yen first, its communes folded under it, then the warning; the OK sites in one line
    assert "tien-yen" in rows[0] and "WARNING" in rows[1] and "dam-ha" in rows[1]
    assert any("+ 2 sites below" in line and "ty-tien-yen, ty-dong-ngu" in line for line in lines)
    assert "3 other sites OK" in table.output
    assert len(rows) == 2  # the communes are folded under tien-yen, not listed
    assert "+ 4 alerts of 2 sites inhibited by their parent's" in table.output
    site_unreachable = next(i for i, line in enumerate(lines) if "SiteUnreachable" in line and "tien-yen" in line
                            and "inhibited" not in line)
    assert "Site tien-yen is unreachable" in lines[site_unreachable]
    assert "runbook https://" in lines[site_unreachable + 1] and "#siteunreachable" in lines[site_unreachable + 1]


def test_site_shows_its_own_state_while_a_parent_inhibits_its_alerts(servers: Servers) -> None:
    result = egov(servers, "status", "--site", "ty-dong-ngu")
    assert result.exit_code == 2, result.output
    assert "inhibited by SiteUnreachable at tien-yen" in result.output
    assert "CRITICAL" in result.output.splitlines()[-1]
    ok = egov(servers, "status", "--site", "dh-quang-tan")
    assert ok.exit_code == 0 and "OK" in ok.output.splitlines()[-1]


def test_silence_and_ack_through_alertmanager(servers: Servers) -> None:
    try:
        made = egov(servers, "silence", "-m", "alertname=ExporterDown", "-m", "site=dam-ha", "--duration", "30m",
                    "--comment", "postgres upgrade", "--author", "alice", "--json")
        assert made.exit_code == 0, made.output
        sid = json.loads(made.output)["id"]
        assert json.loads(made.output)["covers"] == 1
        held = {s["id"]: s for s in get_json(f"{servers.alertmanager}/api/v2/silences")}[sid]
        assert held["createdBy"] == "alice" and held["comment"] == "postgres upgrade"
        assert {(m["name"], m["value"]) for m in held["matchers"]} == {("alertname", "ExporterDown"),
                                                                        ("site", "dam-ha")}
        # Alertmanager marks the alert silenced; the view names the silence and dam-ha's state clears
        def silenced() -> Any:
            result = egov(servers, "status", "--site", "dam-ha", "--json")
            report = json.loads(result.output)
            return (result, report) if report["alerts"] and report["alerts"][0]["silenced"] else None
        result, report = wait_for("the alert silenced", silenced, 20, 0.5)
        assert result.exit_code == 0
        assert report["alerts"][0]["silenced_by"][0].startswith(f"{sid} by alice: postgres upgrade")

        ack = egov(servers, "ack", "HostDown", "--site", "tien-yen", "--author", "bob", "--duration", "15m")
        assert ack.exit_code == 0, ack.output
        ack_id = ack.output.strip().splitlines()[-1]
        assert "it silences 1 firing alert(s)" in ack.output
        held = {s["id"]: s for s in get_json(f"{servers.alertmanager}/api/v2/silences")}[ack_id]
        assert held["createdBy"] == "bob" and held["comment"] == "ack by bob"

        def acked() -> Any:
            report = json.loads(egov(servers, "status", "--site", "tien-yen", "--json").output)
            return [a for a in report["alerts"] if a["alertname"] == "HostDown" and a["silenced"]]
        wait_for("HostDown acknowledged", acked, 20, 0.5)
        # acknowledged, but tien-yen is still cut off: still critical
        assert egov(servers, "status", "--site", "tien-yen").exit_code == 2
    finally:
        servers.expire_silences()


def test_an_ack_that_matches_nothing_says_so(servers: Servers) -> None:
    try:
        ack = egov(servers, "ack", "HostDwon", "--site", "tien-yen", "--author", "bob", "--json")
        assert ack.exit_code == 0 and json.loads(ack.stdout)["covers"] == 0
        typo = egov(servers, "ack", "HostDwon", "--author", "bob")
        assert typo.exit_code == 0 and "no firing alert matches it now" in typo.stderr
        regex = egov(servers, "silence", "-m", "alertname=~Router.+", "-m", "site!~ty-.+", "--comment", "x",
                     "--author", "x", "--json")
        assert json.loads(regex.stdout)["covers"] == 1  # tien-yen's own router, not the communes'
    finally:
        servers.expire_silences()


def test_a_refused_silence_is_an_error_naming_why(servers: Servers) -> None:
    # Alertmanager itself refuses a silence whose matchers all match the empty string
    result = egov(servers, "silence", "-m", "alertname=~.*", "--comment", "all", "--author", "x")
    assert result.exit_code == 1 and "HTTP 400" in result.output and "Traceback" not in result.output
    bad = egov(servers, "silence", "-m", "alertname", "--comment", "x", "--author", "x")
    assert bad.exit_code == 2 and "expected name=value" in bad.output


def test_unknown_when_a_server_cannot_be_asked(servers: Servers) -> None:
    from tests.support.loopback import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["monitor", "status", "-i", str(INVENTORY), "--prometheus", servers.prometheus,
                                       "--alertmanager", dead])
    assert result.exit_code == 3, result.output
    assert f"Alertmanager cannot be asked: {dead}/api/v2/alerts" in result.output
    ack = CliRunner().invoke(main, ["monitor", "ack", "HostDown", "-i", str(INVENTORY), "--alertmanager", dead])
    assert ack.exit_code == 3


def test_watch_survives_a_prometheus_restart(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    from commands import monitor

    rounds: list[int] = []

    def nap(seconds: float) -> None:
        rounds.append(1)
        if len(rounds) == 1:
            servers.stop_prometheus()
        elif len(rounds) == 2:
            servers.start_prometheus()
            wait_for("rules evaluated again", lambda: get_json(
                f"{servers.prometheus}/api/v1/query?query=site:reachable:max")["data"]["result"], 90, 0.5)
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(monitor, "time", types.SimpleNamespace(sleep=nap))  # only the command's naps
    result = egov(servers, "status", "--watch", "--interval", "1")
    out = result.output
    assert len(rounds) == 3, f"{out}\n{result.exception!r}"
    assert out.count("UNKNOWN: Prometheus cannot be asked") == 1, out
    assert "last good read" in out, out
    first, _, after = out.partition("UNKNOWN: Prometheus cannot be asked")
    assert "tien-yen" in first and "tien-yen" in after, out  # the last good read stays on screen, then fresh ones
    assert after.rstrip().splitlines()[-1].startswith("CRITICAL"), out
    assert result.exit_code == 2, out  # the last read is good again
