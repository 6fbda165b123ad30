"""`egov monitor status` against a fake Prometheus and Alertmanager on 127.0.0.1 serving recorded API JSON."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from egov.errors import MonitoringError
from monitoring.rules import PROBE_JOBS
from monitoring.status import collect_status

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "tests" / "fixtures" / "monitoring" / "api"
INVENTORY = ROOT / "tests" / "fixtures" / "monitoring" / "federated.yml"
QUERIES = {
    "site:targets:count": "query-targets_count.json",
    "site:targets_up:sum": "query-targets_up.json",
    f'up{{job!~"{PROBE_JOBS}"}} == 0 or probe_success == 0': "query-down.json",
    "site:wan_reachable:max": "query-wan.json",
}


class FakeApi(BaseHTTPRequestHandler):
    """Answers the recorded JSON for the requests the status view makes; 400 for anything else."""

    alerts: list[dict] = []  # noqa: RUF012 - set per test
    seen: list[str] = []  # noqa: RUF012

    def do_GET(self) -> None:
        url = urllib.parse.urlparse(self.path)
        params = urllib.parse.parse_qs(url.query)
        self.seen.append(self.path)
        if url.path == "/api/v1/query" and params.get("query", [""])[0] in QUERIES:
            body = (API / QUERIES[params["query"][0]]).read_bytes()
        elif url.path == "/api/v2/alerts" and params == {"active": ["true"], "silenced": ["false"],
                                                          "inhibited": ["false"]}:
            body = json.dumps(self.alerts).encode()
        else:
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b'{"status":"error","error":"unexpected request"}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    FakeApi.alerts = json.loads((API / "alerts.json").read_text())
    FakeApi.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_per_site_view_from_recorded_answers(api: str) -> None:
    report = collect_status(api, api, order=["dc", "tien-yen", "dam-ha", "dh-dam-ha", "dh-quang-tan"])
    sites = {s.site: s for s in report.sites}
    assert [s.site for s in report.sites][:3] == ["dc", "tien-yen", "dam-ha"]  # inventory order
    assert (sites["dc"].targets_up, sites["dc"].targets_total) == (6, 6)
    # tien-yen: the federated aggregates (2 node targets, one down) plus the federation target itself
    assert (sites["tien-yen"].targets_up, sites["tien-yen"].targets_total) == (3, 4)
    assert sites["tien-yen"].alerts == {"critical": 1}
    cut = sites["dh-quang-tan"]
    assert cut.wan is False and cut.targets_down == 3
    assert cut.down == ["qn-dh-quang-tan-r1 (icmp_router)", "qn-dh-quang-tan-r1:wan0--qn-dh-r1:wan16 (icmp_link)",
                        "qn-dh-quang-tan-r1:wan1--qn-dh-r1:wan17 (icmp_link)"]
    assert sites["dh-dam-ha"].wan is True and sites["dc"].wan is None
    assert report.critical
    assert report.alerts[0]["alertname"] == "HostDown" and report.alerts[0]["instance"] == "qn-ty-mon1"


def test_site_filter_and_no_critical(api: str) -> None:
    report = collect_status(api, api, site="dh-quang-tan")
    assert [s.site for s in report.sites] == ["dh-quang-tan"]
    assert report.alerts == [] and not report.critical


def test_warnings_alone_are_not_critical(api: str) -> None:
    FakeApi.alerts = [{**a, "labels": {**a["labels"], "severity": "warning"}} for a in FakeApi.alerts]
    report = collect_status(api, api)
    assert not report.critical
    assert {s.site: s.alerts for s in report.sites}["tien-yen"] == {"warning": 1}


def test_cli_json_exit_code_follows_critical_alerts(api: str) -> None:
    runner = CliRunner()
    args = ["monitor", "status", "-i", str(INVENTORY), "--prometheus", api, "--alertmanager", api]
    result = runner.invoke(main, [*args, "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["critical"] is True
    assert {s["site"]: s["targets_down"] for s in data["sites"]}["dh-quang-tan"] == 3
    table = runner.invoke(main, [*args, "--site", "dam-ha"])
    assert table.exit_code == 0, table.output
    assert "dam-ha" in table.output and "no critical alert" in table.output
    bad = runner.invoke(main, [*args, "--site", "nowhere"])
    assert bad.exit_code == 2 and "no site 'nowhere'" in bad.output


def test_unreachable_server_is_one_clear_error(api: str) -> None:
    import socket

    s = socket.create_server(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    with pytest.raises(MonitoringError, match=rf"^{dead}/api/v1/query: "):
        collect_status(dead, api)
    result = CliRunner().invoke(main, ["monitor", "status", "-i", str(INVENTORY), "--prometheus", dead,
                                       "--alertmanager", api])
    assert result.exit_code == 1 and "error:" in result.output and "Traceback" not in result.output


def test_watch_refreshes_until_interrupted(api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from commands import monitor

    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(monitor.time, "sleep", nap)
    result = CliRunner().invoke(main, ["monitor", "status", "-i", str(INVENTORY), "--prometheus", api,
                                       "--alertmanager", api, "--watch", "--interval", "3"])
    assert naps == [3, 3]
    assert result.output.count("CRITICAL alerts firing") == 2  # shown once per refresh
    assert result.exit_code == 1
    queries = [p for p in FakeApi.seen if p.startswith("/api/v2/alerts")]
    assert len(queries) == 2
