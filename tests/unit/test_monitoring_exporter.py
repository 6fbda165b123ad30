"""The egov exporter: fixture sources in, Prometheus exposition out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from egov.errors import MonitoringError
from monitoring.exporter.config import App, ExporterConfig, TlsEndpoint, load_config
from monitoring.exporter.server import build
from monitoring.exporter.sources import Sources, cert_not_after, read_drift_file
from tests.support.tls_stub import self_signed_endpoint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "monitoring"
APPS = [App("portal", "dc-app1", "http://10.0.0.1:8103/healthz"), App("docmgmt", "dc-app2", "http://10.0.0.2:8101/healthz")]
TLS = [TlsEndpoint("dc-app1:443", "10.0.0.1", 443, "quangninh.gov.vn"),
       TlsEndpoint("dc-ops1:993", "10.0.0.3", 993, "x")]


def scrape(registry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


class FakeSources(Sources):
    def __init__(self) -> None:
        self.healthy = {"http://10.0.0.1:8103/healthz": True, "http://10.0.0.2:8101/healthz": False,
                        "https://lgsp.example/": True}
        self.drift_lines: dict[str, int] | Exception = {"qn-ty-r1": 0, "qn-dh-r1": 4}
        super().__init__(http=self._http, cert=self._cert, drift=self._drift)

    def _http(self, url: str, timeout: float) -> tuple[bool, float]:
        return self.healthy[url], 0.012

    def _cert(self, endpoint: TlsEndpoint, timeout: float) -> float | None:
        return 1767225600.0 if endpoint.port == 443 else None

    def _drift(self) -> dict[str, int]:
        if isinstance(self.drift_lines, Exception):
            raise self.drift_lines
        return self.drift_lines


@pytest.fixture
def exporter():
    config = ExporterConfig(apps=APPS, tls=TLS, docexchange_url="https://lgsp.example/",
                            backup_status_file=str(FIXTURES / "backup-status.json"))
    sources = FakeSources()
    exp = build(config, sources)
    for p in exp.pollers:
        p.run_once()
    return exp, sources


def test_scrape_reports_apps_certs_docexchange_drift_backups(exporter) -> None:
    exp, _ = exporter
    s = scrape(exp.registry)
    assert value(s, "egov_app_up", app="portal", target="dc-app1", url=APPS[0].url) == 1
    assert value(s, "egov_app_up", app="docmgmt", target="dc-app2", url=APPS[1].url) == 0
    assert value(s, "egov_app_health_latency_seconds", app="portal", target="dc-app1", url=APPS[0].url) == 0.012
    assert value(s, "egov_tls_certificate_expiry_timestamp_seconds", endpoint="dc-app1:443") == 1767225600.0
    assert value(s, "egov_tls_up", endpoint="dc-ops1:993") == 0
    assert ("egov_tls_certificate_expiry_timestamp_seconds", (("endpoint", "dc-ops1:993"),)) not in s
    assert value(s, "egov_docexchange_up", url="https://lgsp.example/") == 1
    assert value(s, "egov_router_config_drift_lines", router="qn-dh-r1") == 4
    assert value(s, "egov_backup_last_success_timestamp_seconds", database="docmgmt") == 1764190800
    assert value(s, "egov_backup_last_size_bytes", database="docmgmt") == 52428800
    assert ("egov_backup_last_size_bytes", (("database", "portal"),)) not in s
    for collector in ("apps", "tls", "docexchange", "drift", "backup"):
        assert value(s, "egov_collector_up", collector=collector) == 1


def test_families_are_fresh_on_every_scrape(exporter) -> None:
    exp, sources = exporter
    sources.healthy["http://10.0.0.2:8101/healthz"] = True
    sources.drift_lines = {"qn-ty-r1": 0}
    assert value(scrape(exp.registry), "egov_app_up", app="docmgmt", target="dc-app2", url=APPS[1].url) == 0
    for p in exp.pollers:
        p.run_once()
    s = scrape(exp.registry)
    assert value(s, "egov_app_up", app="docmgmt", target="dc-app2", url=APPS[1].url) == 1
    assert ("egov_router_config_drift_lines", (("router", "qn-dh-r1"),)) not in s  # gone, not stale


def test_a_failing_source_keeps_its_last_value_and_says_so(exporter) -> None:
    exp, sources = exporter
    before = value(scrape(exp.registry), "egov_collector_last_success_timestamp_seconds", collector="drift")
    sources.drift_lines = OSError("netmiko: connection refused")
    next(p for p in exp.pollers if p.name == "drift").run_once()
    s = scrape(exp.registry)
    assert value(s, "egov_collector_up", collector="drift") == 0
    assert value(s, "egov_collector_last_success_timestamp_seconds", collector="drift") == before
    assert value(s, "egov_router_config_drift_lines", router="qn-dh-r1") == 4


def test_a_bad_backup_file_is_reported_not_raised(tmp_path: Path) -> None:
    bad = tmp_path / "status.json"
    bad.write_text('{"docmgmt": {"last_success_timestamp": "yesterday"}}')
    exp = build(ExporterConfig(backup_status_file=str(bad)), FakeSources())
    s = scrape(exp.registry)
    assert value(s, "egov_collector_up", collector="backup") == 0
    assert not any(name == "egov_backup_last_success_timestamp_seconds" for name, _ in s)
    (tmp_path / "status.json").unlink()
    assert value(scrape(exp.registry), "egov_collector_up", collector="backup") == 0


def test_scrape_never_waits_for_slow_sources(exporter) -> None:
    """Background pollers fill the cache; a scrape only reads it."""
    exp, sources = exporter
    calls = []

    def http(url: str, timeout: float) -> tuple[bool, float]:
        calls.append(url)
        return True, 0.0

    sources.http = http
    scrape(exp.registry)
    assert calls == []


def test_load_config_names_file_and_problem(tmp_path: Path) -> None:
    good = tmp_path / "ok.yml"
    good.write_text("listen: 127.0.0.1:9999\napps:\n  - {app: portal, target: h, url: 'http://h/healthz'}\n"
                    "tls:\n  - {endpoint: 'h:443', host: h, port: 443}\n")
    config = load_config(good)
    assert config.listen == "127.0.0.1:9999" and config.apps[0].app == "portal"
    assert config.tls[0].server_name == "h"
    bad = tmp_path / "bad.yml"
    bad.write_text("listen: x\nlisten_port: 3\n")
    with pytest.raises(MonitoringError, match=r"bad.yml: unknown keys: listen_port"):
        load_config(bad)
    broken = tmp_path / "broken.yml"
    broken.write_text("apps: [\n")
    with pytest.raises(MonitoringError, match=r"broken.yml:2: \(yaml\)"):
        load_config(broken)


def test_drift_file(tmp_path: Path) -> None:
    path = tmp_path / "drift.json"
    path.write_text('{"qn-core1": 0, "qn-ty-r1": 7}')
    assert read_drift_file(str(path)) == {"qn-core1": 0, "qn-ty-r1": 7}
    path.write_text('{"qn-core1": "many"}')
    with pytest.raises(ValueError, match="router -> number"):
        read_drift_file(str(path))


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, dt.datetime]]:
    """A real TLS listener on 127.0.0.1 with a self-signed certificate."""
    not_after = dt.datetime(2027, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
    with self_signed_endpoint(tmp_path, "quangninh.gov.vn", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), not_after) as port:
        yield port, not_after


def test_cert_not_after_reads_a_real_handshake(tls_server) -> None:
    port, not_after = tls_server
    got = cert_not_after(TlsEndpoint("local", "127.0.0.1", port, "quangninh.gov.vn"), timeout=5)
    assert got == not_after.timestamp()


def test_cert_not_after_is_none_when_nothing_listens() -> None:
    import socket

    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    assert cert_not_after(TlsEndpoint("gone", "127.0.0.1", port, "x"), timeout=2) is None


def test_check_mode_validates_the_config_the_deploy_installs(tmp_path: Path) -> None:
    from monitoring.exporter.__main__ import main

    good = tmp_path / "ok.yml"
    good.write_text("listen: 127.0.0.1:9200\nbackup_status_file: /var/lib/egov/backup-status.json\n")
    assert main(["--check", "--config", str(good)]) == 0
    bad = tmp_path / "bad.yml"
    bad.write_text("listen: 127.0.0.1:9200\ninterval_seconds: 3\n")
    assert main(["--check", "--config", str(bad)]) == 2
