"""Delivery: the generated e-mail settings on a real Alertmanager against a STARTTLS mail stub, and the
toolkit's alert receiver (monitoring/receiver.py) on loopback."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from egov.errors import MonitoringError
from egov.pki import Pki
from inventory import load_inventory
from inventory.services import mail_name
from monitoring.alertmanager import alertmanager_config
from monitoring.delivery import CA_BUNDLE, receiver_config
from monitoring.receiver import Receiver, handler
from monitoring.targets import build_plan
from tests.support.loopback import free_port, http_serving
from tests.support.smtp_stub import smtp_starttls

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "inventory" / "lab.yml"


@pytest.fixture(scope="module")
def lab_inv():
    return load_inventory(LAB)


def test_mail_goes_to_the_mail_hosts_address_verified_as_its_name(lab_inv) -> None:
    am = alertmanager_config(lab_inv, build_plan(lab_inv))
    mail = lab_inv.hosts_with_role("mail")[0]
    assert am["global"]["smtp_smarthost"] == f"{mail.server_ip}:25" and am["global"]["smtp_require_tls"] is True
    emails = [c for r in am["receivers"] for c in r.get("email_configs", [])]
    assert emails, "the NOC gets e-mail"
    assert all(c["tls_config"] == {"ca_file": CA_BUNDLE, "server_name": mail_name(lab_inv)} for c in emails)


def test_every_receiver_is_recorded_by_every_top_level_alert_receiver(lab_inv) -> None:
    plan = build_plan(lab_inv)
    for receiver in alertmanager_config(lab_inv, plan)["receivers"]:
        urls = [h["url"] for h in receiver["webhook_configs"]]
        assert [f"http://{t.address}:{t.settings.alert_receiver_port}/{receiver['name']}" for t in plan.top] == \
            urls[-len(plan.top):]


def test_a_smarthost_given_as_an_address_is_refused(lab_inv) -> None:
    plan = build_plan(lab_inv)
    plan.settings = dataclasses.replace(plan.settings, smtp_smarthost="10.22.176.14:25")
    with pytest.raises(MonitoringError, match="an address, which no certificate names"):
        alertmanager_config(lab_inv, plan)
    plan.settings = dataclasses.replace(plan.settings, smtp_smarthost="relay.example.org:587")
    am = alertmanager_config(lab_inv, plan)
    assert am["global"]["smtp_smarthost"] == "relay.example.org:587"
    assert am["receivers"][0]["email_configs"][0]["tls_config"]["server_name"] == "relay.example.org"


def test_the_dead_mans_switch_must_wait_longer_than_two_watchdog_repeats(lab_inv) -> None:
    plan = build_plan(lab_inv)
    top = plan.top[0]
    assert receiver_config(lab_inv, plan, top)["watchdog"]["silent_after"] == 150  # lab.yml: 150s
    top.settings = dataclasses.replace(top.settings, deadmansswitch_silent_after="90s")
    with pytest.raises(MonitoringError, match="at least twice monitoring__deadmansswitch_interval"):
        receiver_config(lab_inv, plan, top)


def _metric(base: str, name: str, labels: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(f"{name}{{{labels}}} "):
                return float(line.split()[-1])
    return 0.0


def test_a_real_alertmanager_delivers_to_the_name_on_the_certificate_not_the_address(lab_inv, tmp_path: Path) -> None:
    """The generated e-mail settings, pointed at a STARTTLS stub on 127.0.0.1 with the lab CA's mail
    certificate: they deliver; the same receiver without ``server_name`` fails as the issue said
    (the certificate names no IP address)."""
    if shutil.which("prometheus-alertmanager") is None:
        pytest.fail("prometheus-alertmanager missing: apt-get install prometheus-alertmanager")
    pki = Pki(tmp_path / "pki")
    pki.issue("mail", [mail_name(lab_inv), lab_inv.province.domain])
    am = alertmanager_config(lab_inv, build_plan(lab_inv))
    with smtp_starttls(pki.dir / "mail.crt", pki.dir / "mail.key") as (smtp_port, box):
        am["global"]["smtp_smarthost"] = f"127.0.0.1:{smtp_port}"
        noc = next(r for r in am["receivers"] if r["name"] == "noc")
        noc.pop("webhook_configs")
        for config in noc["email_configs"]:
            config["tls_config"]["ca_file"] = str(pki.dir / "ca.crt")
        by_address = {"name": "by-address", "email_configs": [
            {**noc["email_configs"][0], "tls_config": {"ca_file": str(pki.dir / "ca.crt")}}]}
        am["receivers"] = [noc, by_address]
        am["route"] = {"receiver": "noc", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "1m",
                       "routes": [{"matchers": ['alertname="HostDown"'], "receiver": "noc", "continue": True},
                                  {"matchers": ['alertname="HostDown"'], "receiver": "by-address"}]}
        (tmp_path / "am.yml").write_text(yaml.safe_dump(am))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        argv = ["prometheus-alertmanager", f"--config.file={tmp_path / 'am.yml'}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=(tmp_path / "am.log").open("wb"))
        try:
            alert = [{"labels": {"alertname": "HostDown", "severity": "critical", "instance": "dc-app2"},
                      "annotations": {"summary": "Host dc-app2 at dc is down"}}]
            deadline = time.monotonic() + 20
            while True:
                try:
                    req = urllib.request.Request(f"{base}/api/v2/alerts", data=json.dumps(alert).encode(),
                                                 headers={"Content-Type": "application/json"})
                    urllib.request.urlopen(req, timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            failed = 0.0
            while time.monotonic() < deadline and not (box.messages and failed >= 1):
                time.sleep(0.3)
                failed = _metric(base, "alertmanager_notification_requests_failed_total", 'integration="email"')
        finally:
            proc.terminate()
            proc.wait(10)
    assert len(box.messages) == 1, box.messages  # the verified receiver's; the other never got past TLS
    message = box.messages[0]
    assert message["tls"] == "True" and message["to"] == ["<noc@quangninh.gov.vn>"]
    assert "HostDown" in str(message["data"])
    assert failed >= 1, (tmp_path / "am.log").read_text()[-2000:]  # by-address: x509 "doesn't contain any IP SANs"


# --- the alert receiver -----------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _config(tmp_path: Path, allow: list[str]) -> dict[str, Any]:
    return {"state_dir": str(tmp_path), "allow_post_from": allow,
            "watchdog": {"alertname": "Watchdog", "silent_after": 150},
            "mail": {"host": "10.22.176.14", "port": 25, "server_name": "mail.quangninh.gov.vn",
                     "ca_file": CA_BUNDLE, "from": "alertmanager@quangninh.gov.vn", "to": ["noc@quangninh.gov.vn"]}}


def _payload(alertname: str, status: str = "firing") -> dict[str, Any]:
    """An Alertmanager webhook payload (version 4), as its documentation gives it."""
    return {"version": "4", "status": status, "receiver": "deadmansswitch", "groupKey": "{}:{}",
            "groupLabels": {"alertname": alertname}, "commonLabels": {"alertname": alertname},
            "alerts": [{"status": status, "labels": {"alertname": alertname, "severity": "none"},
                        "annotations": {}, "startsAt": "2026-12-01T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]}


@pytest.fixture
def served(tmp_path: Path):
    clock, sent = Clock(), []
    receiver = Receiver(_config(tmp_path, ["127.0.0.1"]), mailer=lambda mail, subject, body: sent.append(subject),
                        clock=clock)
    with http_serving(handler(receiver)) as port:
        yield f"http://127.0.0.1:{port}", receiver, clock, sent


def _post(url: str, body: bytes) -> int:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _watchdog(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{url}/watchdog", timeout=5) as resp:
            return int(resp.status), json.load(resp)
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.load(exc)


def test_the_receiver_records_each_notification_with_its_receiver(served, tmp_path: Path) -> None:
    url, _, _, _ = served
    assert _post(f"{url}/noc", json.dumps(_payload("HostDown")).encode()) == 200
    lines = [json.loads(line) for line in (tmp_path / "notifications.jsonl").read_text().splitlines()]
    assert [(r["receiver"], r["payload"]["alerts"][0]["labels"]["alertname"]) for r in lines] == [("noc", "HostDown")]


def test_the_receiver_refuses_what_is_no_payload(served, tmp_path: Path) -> None:
    url, _, _, _ = served
    assert _post(f"{url}/noc", b"not json") == 400
    assert _post(f"{url}/noc", b"[1, 2]") == 400
    assert _post(f"{url}/", json.dumps(_payload("HostDown")).encode()) == 400
    assert not (tmp_path / "notifications.jsonl").exists()


def test_a_post_from_an_address_not_allowed_is_refused(tmp_path: Path) -> None:
    receiver = Receiver(_config(tmp_path, ["10.22.146.14"]))
    with http_serving(handler(receiver)) as port:
        assert _post(f"http://127.0.0.1:{port}/deadmansswitch", json.dumps(_payload("Watchdog")).encode()) == 403
    assert receiver.last_seen is None


def test_the_dead_mans_switch_tells_the_noc_once_when_the_watchdog_stops_and_once_when_it_is_back(served) -> None:
    url, receiver, clock, sent = served
    assert _post(f"{url}/deadmansswitch", json.dumps(_payload("Watchdog")).encode()) == 200
    code, state = _watchdog(url)
    assert code == 200 and state["silent"] is False and state["last_seen"] == clock.now
    clock.now += 149
    receiver.check()
    assert sent == [] and _watchdog(url)[0] == 200
    clock.now += 2  # 151 s without a Watchdog
    receiver.check()
    receiver.check()
    assert _watchdog(url)[0] == 503
    assert len(sent) == 1 and "no Watchdog for 151s" in sent[0]
    # a resolved Watchdog is no heartbeat
    _post(f"{url}/deadmansswitch", json.dumps(_payload("Watchdog", "resolved")).encode())
    receiver.check()
    assert _watchdog(url)[0] == 503 and len(sent) == 1
    _post(f"{url}/deadmansswitch", json.dumps(_payload("Watchdog")).encode())
    receiver.check()
    assert _watchdog(url)[0] == 200 and len(sent) == 2 and "is back" in sent[1]


def test_the_watchdogs_last_time_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    first = Receiver(_config(tmp_path, ["127.0.0.1"]), clock=clock)
    first.record("deadmansswitch", _payload("Watchdog"))
    clock.now += 200
    again = Receiver(_config(tmp_path, ["127.0.0.1"]), mailer=lambda *a: None, clock=clock)
    assert again.last_seen == clock.now - 200 and again.watchdog()["silent"] is True
