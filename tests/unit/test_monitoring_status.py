"""`egov monitor status` logic on recorded API answers (tests/fixtures/monitoring/api/README.md),
served by a fake HTTP server on 127.0.0.1. The same behaviour on real Prometheus and
Alertmanager binaries: test_monitoring_oncall_real.py."""

from __future__ import annotations

import datetime as dt
import json
import types
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from commands.monitor_view import duration
from egov.errors import MonitoringError
from monitoring.api import Unreachable
from monitoring.rules import PROBE_JOBS
from monitoring.silence import parse_duration, parse_matcher
from monitoring.status import collect_status
from tests.support.loopback import http_serving

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "tests" / "fixtures" / "monitoring" / "api"
INVENTORY = ROOT / "tests" / "fixtures" / "monitoring" / "federated.yml"
ORDER = ["dc", "tien-yen", "dam-ha", "ty-tien-yen", "ty-dong-ngu", "dh-dam-ha", "dh-quang-tan"]
QUERIES = {
    "site:targets:count": "query-targets_count.json",
    "site:targets_up:sum": "query-targets_up.json",
    f'up{{job!~"{PROBE_JOBS}"}} == 0 or probe_success == 0': "query-down.json",
    "site:wan_reachable:max": "query-wan.json",
    "site:reachable:max": "query-reachable.json",
}
ALL_ALERTS = {"active": ["true"], "silenced": ["true"], "inhibited": ["true"]}


class FakeApi(BaseHTTPRequestHandler):
    """Answers the recorded JSON of ``directory`` for the status view's requests; 400 otherwise,
    503 for everything while ``down``."""

    directory: Path = API
    alerts: list[dict] = []  # noqa: RUF012 - set per test
    seen: list[str] = []  # noqa: RUF012
    down = False

    def do_GET(self) -> None:
        url = urllib.parse.urlparse(self.path)
        params = urllib.parse.parse_qs(url.query)
        self.seen.append(self.path)
        if self.down:
            return self._answer(503, b"Service Unavailable")
        if url.path == "/api/v1/query" and params.get("query", [""])[0] in QUERIES:
            body = (self.directory / QUERIES[params["query"][0]]).read_bytes()
        elif url.path == "/api/v2/alerts" and params == ALL_ALERTS:
            body = json.dumps(self.alerts).encode()
        elif url.path == "/api/v2/silences" and (self.directory / "silences.json").exists():
            body = (self.directory / "silences.json").read_bytes()
        else:
            return self._answer(400, b'{"status":"error","error":"unexpected request"}')
        self._answer(200, body)

    def _answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(directory: Path) -> Iterator[str]:
    FakeApi.directory, FakeApi.seen, FakeApi.down = directory, [], False
    FakeApi.alerts = json.loads((directory / "alerts.json").read_text())
    with http_serving(FakeApi) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def api() -> Iterator[str]:
    """The lab's federated setup with a district host down (recorded from test_40's servers)."""
    yield from _serve(API)


@pytest.fixture
def cutoff() -> Iterator[str]:
    """tien-yen cut off, its communes inhibited, dam-ha's warning silenced (real Alertmanager 0.25)."""
    yield from _serve(API / "cutoff")


def test_per_site_view_from_recorded_answers(api: str) -> None:
    report = collect_status(api, api, order=ORDER)
    sites = {s.site: s for s in report.sites}
    assert [s.site for s in report.sites] == ORDER  # inventory order, every site of the inventory
    assert (sites["dc"].targets_up, sites["dc"].targets_total) == (6, 6) and sites["dc"].state == "ok"
    # tien-yen: the federated aggregates (2 node targets, one down) plus the federation target itself
    assert (sites["tien-yen"].targets_up, sites["tien-yen"].targets_total) == (3, 4)
    assert sites["tien-yen"].counts == {"critical": 1} and sites["tien-yen"].state == "critical"
    cut = sites["dh-quang-tan"]
    assert cut.wan is False and cut.reachable is False and cut.targets_down == 3 and cut.state == "critical"
    assert cut.down == ["qn-dh-quang-tan-r1 (icmp_router)", "qn-dh-quang-tan-r1:wan0--qn-dh-r1:wan16 (icmp_link)",
                        "qn-dh-quang-tan-r1:wan1--qn-dh-r1:wan17 (icmp_link)"]
    # no series at all of the tien-yen communes in these answers: unknown, not silently left out
    assert sites["ty-dong-ngu"].state == "unknown" and not sites["ty-dong-ngu"].seen
    assert sites["dh-dam-ha"].wan is True and sites["dc"].wan is None
    assert report.state == "critical" and report.exit_code == 2
    first = report.alerts[0]
    assert (first.name, first.instance, first.runbook) == (
        "HostDown", "qn-ty-mon1", "https://git.quangninh.gov.vn/egov-infra/docs/monitoring.md#hostdown")
    assert [s.site for s in report.failing()] == ["tien-yen", "dh-quang-tan", "ty-dong-ngu"]


def test_inhibited_and_silenced_alerts_say_by_what(cutoff: str) -> None:
    report = collect_status(cutoff, cutoff, order=ORDER, now=dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC).timestamp())
    sites = {s.site: s for s in report.sites}
    alerts = {(a.name, a.site): a for a in report.alerts}
    assert alerts[("HostDown", "tien-yen")].inhibited_by == ["SiteUnreachable at tien-yen"]
    # a commune's router alert is inhibited by the commune's SiteUnreachable, itself inhibited by
    # the district's: the commune is covered by its district
    assert alerts[("RouterUnreachable", "ty-dong-ngu")].inhibited_by == ["SiteUnreachable at ty-dong-ngu"]
    assert sites["ty-dong-ngu"].covered_by == sites["ty-tien-yen"].covered_by == "tien-yen"
    assert sites["tien-yen"].covered_by is None
    # inhibited is still true: the commune is critical
    assert sites["ty-dong-ngu"].state == "critical" and sites["ty-dong-ngu"].counts == {"critical": 2}
    silenced = alerts[("ExporterDown", "dam-ha")]
    assert silenced.silenced and silenced.silenced_by[0].startswith(
        "6d6111a5-95f3-4695-af76-e341ae91973c by alice: postgres upgrade (until 2026-12-01T11:07")
    assert sites["dam-ha"].state == "ok"  # someone said "I know"
    assert report.alerts[-1] is silenced and report.alerts[0].name == "SiteUnreachable"  # paging first
    assert alerts[("SiteUnreachable", "tien-yen")].seconds == pytest.approx(22 * 60 + 25.855)
    assert report.exit_code == 2


def test_site_filter_shows_its_own_state_under_a_parents_inhibition(cutoff: str) -> None:
    report = collect_status(cutoff, cutoff, site="ty-dong-ngu", order=ORDER)
    assert [s.site for s in report.sites] == ["ty-dong-ngu"]
    assert {a.name for a in report.alerts} == {"RouterUnreachable", "SiteUnreachable"}
    assert report.state == "critical" and report.exit_code == 2
    ok = collect_status(cutoff, cutoff, site="dh-quang-tan", order=ORDER)
    assert ok.alerts == [] and ok.exit_code == 0


def test_warnings_alone_exit_1(api: str) -> None:
    FakeApi.alerts = [{**a, "labels": {**a["labels"], "severity": "warning"}} for a in FakeApi.alerts]
    report = collect_status(api, api, site="tien-yen")
    assert report.state == "warning" and report.exit_code == 1


def test_cli_json_and_exit_codes(cutoff: str) -> None:
    runner = CliRunner()
    args = ["monitor", "status", "-i", str(INVENTORY), "--prometheus", cutoff, "--alertmanager", cutoff]
    result = runner.invoke(main, [*args, "--json"])
    assert result.exit_code == 2, result.output
    data = json.loads(result.output)
    assert data["state"] == "critical" and data["exit_code"] == 2
    assert {s["site"]: s["state"] for s in data["sites"]}["dam-ha"] == "ok"
    table = runner.invoke(main, [*args, "--site", "dh-quang-tan"])
    assert table.exit_code == 0, table.output
    assert "dh-quang-tan" in table.output and table.output.splitlines()[-1] == "OK: nothing fires"
    bad = runner.invoke(main, [*args, "--site", "nowhere"])
    assert bad.exit_code == 2 and "no site 'nowhere'" in bad.output
    assert "3  UNKNOWN" in runner.invoke(main, ["monitor", "status", "--help"]).output


def test_unreachable_server_is_unknown_exit_3(api: str) -> None:
    import socket

    s = socket.create_server(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    with pytest.raises(Unreachable, match=rf"^Prometheus cannot be asked: {dead}/api/v1/query: "):
        collect_status(dead, api)
    result = CliRunner().invoke(main, ["monitor", "status", "-i", str(INVENTORY), "--prometheus", dead,
                                       "--alertmanager", api])
    assert result.exit_code == 3 and result.output.startswith("UNKNOWN: Prometheus cannot be asked")
    assert "Traceback" not in result.output
    as_json = CliRunner().invoke(main, ["monitor", "status", "-i", str(INVENTORY), "--prometheus", dead,
                                        "--alertmanager", api, "--json"])
    assert as_json.exit_code == 3
    assert json.loads(as_json.output)["state"] == "unknown" and dead in json.loads(as_json.output)["error"]


def test_watch_keeps_the_last_good_read_through_an_outage(cutoff: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from commands import monitor

    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        FakeApi.down = len(naps) == 1  # the second read fails, the third works again
        if len(naps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(monitor, "time", types.SimpleNamespace(sleep=nap))
    result = CliRunner().invoke(main, ["monitor", "status", "-i", str(INVENTORY), "--prometheus", cutoff,
                                       "--alertmanager", cutoff, "--watch", "--interval", "3"])
    assert naps == [3, 3, 3]
    out = result.output
    assert out.count("UNKNOWN: Prometheus cannot be asked") == 1 and "HTTP 503" in out
    _, _, after = out.partition("UNKNOWN:")
    assert "last good read" in after.splitlines()[0]
    # the last good read shown again, marked as such, then a fresh one
    assert "UNKNOWN (exit 3): the view above is the last good read (CRITICAL)" in after
    assert after.count("CRITICAL (exit 2)") == 1
    assert result.exit_code == 2


def test_matchers_and_durations() -> None:
    assert parse_matcher("site=tien-yen") == {"name": "site", "value": "tien-yen", "isRegex": False, "isEqual": True}
    assert parse_matcher('instance!~"qn-ty-.+"') == {"name": "instance", "value": "qn-ty-.+", "isRegex": True,
                                                     "isEqual": False}
    assert parse_matcher("alertname!=Watchdog")["isEqual"] is False
    for bad in ("site", "=x", "site=", "site=~(("):
        with pytest.raises(MonitoringError, match="matcher"):
            parse_matcher(bad)
    assert parse_duration("1h30m") == dt.timedelta(hours=1, minutes=30)
    assert parse_duration("2d") == dt.timedelta(days=2)
    for bad in ("", "soon", "5", "1x"):
        with pytest.raises(MonitoringError, match="duration"):
            parse_duration(bad)
    assert [duration(s) for s in (None, 5, 125, 7500, 190000)] == ["?", "5s", "2m", "2h05m", "2d4h"]
