"""The generated routing tree and inhibitions on a real Alertmanager (Debian's 0.25, on loopback):
which notifications leave, to whom, for a dead district, a dead blackbox and a symptom with its
causes. A webhook receiver in the test stands for every receiver (e-mail is the "paging" work's)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from inventory import load_inventory
from monitoring.config import generate
from tests.support.loopback import free_port, http_serving

ROOT = Path(__file__).resolve().parents[2]
FEDERATED = ROOT / "tests" / "fixtures" / "monitoring" / "federated.yml"
TY = {"zone": "tien-yen"}
DC = {"site": "dc", "level": "province", "zone": "dc", "monitor": "dc-ops1"}


class _Hooks(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path.strip("/"), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """The generated alertmanager.yml of the federated fixture, each receiver's e-mail and webhooks
    replaced by the test's webhook at /<receiver>, the top-level timers shortened."""
    if shutil.which("prometheus-alertmanager") is None:
        pytest.fail("prometheus-alertmanager is missing: apt-get install prometheus-alertmanager")
    _Hooks.received = []
    with http_serving(_Hooks) as hooks_port:
        conf = yaml.safe_load(generate(load_inventory(FEDERATED))["dc-ops1"].files["alertmanager.yml"])
        for receiver in conf["receivers"]:
            receiver.pop("email_configs", None)
            receiver["webhook_configs"] = [{"url": f"http://127.0.0.1:{hooks_port}/{receiver['name']}"}]
        conf["route"].update(group_wait="1s", group_interval="1s")
        (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(conf))
        port = free_port()
        proc = subprocess.Popen(["prometheus-alertmanager", f"--config.file={tmp_path / 'alertmanager.yml'}",
                                 f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                                 "--cluster.listen-address="], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        pytest.fail("Alertmanager did not start")
                    time.sleep(0.2)
            yield url, _Hooks.received
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _post(url: str, alerts: list[dict[str, str]]) -> None:
    body = json.dumps([{"labels": a, "annotations": {"summary": "test"}} for a in alerts]).encode()
    req = urllib.request.Request(f"{url}/api/v2/alerts", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200


def _pages(received: list[tuple[str, dict[str, Any]]]) -> set[tuple[str, str, str]]:
    return {(receiver, a["labels"]["alertname"], a["labels"].get("site", ""))
            for receiver, body in received for a in body["alerts"]}


def test_a_dead_district_a_dead_blackbox_and_a_down_app_page_once_each(alertmanager) -> None:
    url, received = alertmanager
    district = [{"alertname": "SiteUnreachable", "severity": "critical", "site": "tien-yen", "level": "district", **TY}]
    district += [{"alertname": "SiteUnreachable", "severity": "critical", "site": c, "level": "commune", **TY}
                 for c in ("ty-tien-yen", "ty-dong-ngu")]
    district += [
        {"alertname": "HostDown", "severity": "critical", "site": "tien-yen", "level": "district",
         "instance": "qn-ty-node1", **TY},
        {"alertname": "RouterUnreachable", "severity": "warning", "site": "ty-dong-ngu", "level": "commune",
         "instance": "qn-ty-dong-ngu-r1", "job": "icmp_router", **TY},
        {"alertname": "WanLinkDown", "severity": "warning", "site": "ty-tien-yen", "level": "commune",
         "instance": "qn-ty-tien-yen-r1:wan0--qn-ty-r1:wan16", **TY}]
    blind = [{"alertname": "BlackboxExporterDown", "severity": "critical", "job": "blackbox", "instance": "dc-ops1",
              **DC},
             {"alertname": "RouterUnreachable", "severity": "warning", "job": "icmp_router", "instance": "qn-core1",
              **DC},
             {"alertname": "PublicEndpointDown", "severity": "critical", "job": "blackbox_http_2xx",
              "instance": "portal", **DC}]
    app = [{"alertname": "AppDown", "severity": "critical", "app": "portal", **DC},
           {"alertname": "AppInstanceDown", "severity": "warning", "app": "portal", "instance": "dc-app1", **DC}]
    _post(url, [*district, *blind, *app, {"alertname": "Watchdog", "severity": "none", "monitor": "dc-ops1"}])
    want = {("noc", "SiteUnreachable", "tien-yen"), ("it-tien-yen", "SiteUnreachable", "tien-yen"),
            ("noc", "BlackboxExporterDown", "dc"), ("noc", "AppDown", "dc"), ("deadmansswitch", "Watchdog", "")}
    deadline = time.monotonic() + 15
    while _pages(received) != want and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # room for a notification that should not come
    assert _pages(received) == want
    # one notification per group: alertname and site
    assert sorted((r, b["groupLabels"].get("alertname"), b["groupLabels"].get("site", "")) for r, b in received
                  if b["status"] == "firing") == sorted(want)


def test_a_single_cause_still_tickets_its_site(alertmanager) -> None:
    """Without its symptom, a cause is not muted: a lone AppInstanceDown reaches the NOC (dc's IT)."""
    url, received = alertmanager
    _post(url, [{"alertname": "AppInstanceDown", "severity": "warning", "app": "portal", "instance": "dc-app1", **DC},
                {"alertname": "WanLinkDown", "severity": "warning", "site": "ty-tien-yen", "level": "commune",
                 "instance": "qn-ty-tien-yen-r1:wan0--qn-ty-r1:wan16", **TY}])
    want = {("noc", "AppInstanceDown", "dc"), ("it-tien-yen", "WanLinkDown", "ty-tien-yen")}
    deadline = time.monotonic() + 15
    while _pages(received) != want and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _pages(received) == want
