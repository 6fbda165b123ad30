"""The egov exporter: fixture sources in, Prometheus exposition out; and the blackbox modules
that took over its HTTP and TLS probes, run by the real blackbox_exporter."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from egov.errors import MonitoringError
from monitoring.config import blackbox_config
from monitoring.exporter.cache import Poller
from monitoring.exporter.config import ExporterConfig, Router, load_config
from monitoring.exporter.server import Exporter, build, revision
from monitoring.exporter.sources import Sources, read_drift_file
from tests.support.loopback import free_port, http_serving
from tests.support.real_monitoring import wait_for
from tests.support.tls_stub import self_signed_endpoint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "monitoring"
ROUTERS = [Router("qn-ty-r1", "tien-yen", "district", "tien-yen"),
           Router("qn-dh-quang-tan-r1", "dh-quang-tan", "commune", "dam-ha")]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(registry) -> Samples:
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


class FakeSources(Sources):
    def __init__(self) -> None:
        self.drift_lines: dict[str, int] | Exception = {"qn-ty-r1": 0, "qn-dh-quang-tan-r1": 4}
        super().__init__(drift=self._drift)

    def _drift(self) -> dict[str, int]:
        if isinstance(self.drift_lines, Exception):
            raise self.drift_lines
        return self.drift_lines


def poller(exp: Exporter, name: str) -> Poller:
    return next(p for p in exp.pollers if p.name == name)


@pytest.fixture
def exporter() -> tuple[Exporter, FakeSources]:
    config = ExporterConfig(backup_status_file=str(FIXTURES / "backup-status.json"), routers=ROUTERS)
    sources = FakeSources()
    exp = build(config, sources, proc=str(FIXTURES / "proc"))
    for p in exp.pollers:
        p.run_once()
    return exp, sources


def test_drift_carries_the_routers_own_site_and_backups_their_database(exporter) -> None:
    exp, _ = exporter
    s = scrape(exp.registry)
    assert value(s, "egov_router_config_drift_lines", router="qn-dh-quang-tan-r1", instance="qn-dh-quang-tan-r1",
                 role="router", site="dh-quang-tan", level="commune", zone="dam-ha") == 4
    assert value(s, "egov_router_config_drift_lines", router="qn-ty-r1", instance="qn-ty-r1", role="router",
                 site="tien-yen", level="district", zone="tien-yen") == 0
    assert value(s, "egov_backup_last_success_timestamp_seconds", database="docmgmt") == 1764190800
    assert value(s, "egov_backup_last_size_bytes", database="docmgmt") == 52428800
    assert ("egov_backup_last_size_bytes", (("database", "portal"),)) not in s
    for collector in ("drift", "backup"):
        assert value(s, "egov_collector_up", collector=collector) == 1
        assert value(s, "egov_collector_last_success_timestamp_seconds", collector=collector) > 0
    # no HTTP or TLS prober of its own any more: blackbox's job
    assert not {n for n in names(s) if n.startswith(("egov_app", "egov_tls", "egov_docexchange"))}


def test_self_metrics_process_platform_and_build(exporter) -> None:
    exp, _ = exporter
    s = scrape(exp.registry)
    # from the fixture /proc (tests/fixtures/monitoring/proc/README.md)
    assert value(s, "process_cpu_seconds_total") == pytest.approx(3.0)
    assert value(s, "process_resident_memory_bytes") == 11264 * os.sysconf("SC_PAGE_SIZE")
    assert value(s, "process_open_fds") == 7 and value(s, "process_max_fds") == 1024
    assert value(s, "process_start_time_seconds") == pytest.approx(1764547200 + 12345)
    build_info = [labels for name, labels in s if name == "egov_exporter_build_info"]
    assert len(build_info) == 1 and dict(build_info[0])["revision"] == revision()
    assert "python_info" in names(s)


def test_revision_follows_the_shipped_modules(tmp_path: Path) -> None:
    package = tmp_path / "exporter"
    shutil.copytree(Path(__file__).resolve().parents[2] / "monitoring" / "exporter", package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    assert revision(package) == revision()
    (package / "cache.py").write_text((package / "cache.py").read_text() + "\n# changed\n")
    assert revision(package) != revision()


def test_a_failed_collector_drops_its_series_and_says_since_when(exporter) -> None:
    exp, sources = exporter
    before = value(scrape(exp.registry), "egov_collector_last_success_timestamp_seconds", collector="drift")
    sources.drift_lines = OSError("drift file: permission denied")
    poller(exp, "drift").run_once()
    s = scrape(exp.registry)
    assert value(s, "egov_collector_up", collector="drift") == 0
    assert value(s, "egov_collector_last_success_timestamp_seconds", collector="drift") == before
    assert "egov_router_config_drift_lines" not in names(s)  # nothing stale served as current
    sources.drift_lines = {"qn-ty-r1": 2}
    poller(exp, "drift").run_once()
    s = scrape(exp.registry)
    assert value(s, "egov_collector_up", collector="drift") == 1
    assert [labels for name, labels in s if name == "egov_router_config_drift_lines"] == [
        (("instance", "qn-ty-r1"), ("level", "district"), ("role", "router"), ("router", "qn-ty-r1"),
         ("site", "tien-yen"), ("zone", "tien-yen"))]


def test_drift_of_a_router_it_does_not_watch_is_not_charged_to_its_own_site(exporter) -> None:
    exp, sources = exporter
    sources.drift_lines = {"qn-ty-r1": 1, "qn-elsewhere-r1": 9}
    poller(exp, "drift").run_once()
    routers = {dict(labels)["router"] for name, labels in scrape(exp.registry)
               if name == "egov_router_config_drift_lines"}
    assert routers == {"qn-ty-r1"}


def test_help_says_what_a_failure_does(exporter) -> None:
    exp, _ = exporter
    text = generate_latest(exp.registry).decode()
    for family in ("egov_router_config_drift_lines", "egov_backup_last_success_timestamp_seconds"):
        help_line = next(line for line in text.splitlines() if line.startswith(f"# HELP {family} "))
        assert "drops these series" in help_line


def test_a_bad_backup_file_drops_the_backup_series(tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    status.write_text('{"docmgmt": {"last_success_timestamp": 1764190800}}')
    exp = build(ExporterConfig(backup_status_file=str(status)), FakeSources())
    poller(exp, "backup").run_once()
    assert value(scrape(exp.registry), "egov_backup_last_success_timestamp_seconds", database="docmgmt") > 0
    status.write_text('{"docmgmt": {"last_success_timestamp": "yesterday"}}')
    poller(exp, "backup").run_once()
    s = scrape(exp.registry)
    assert value(s, "egov_collector_up", collector="backup") == 0
    assert "egov_backup_last_success_timestamp_seconds" not in names(s)
    status.unlink()
    poller(exp, "backup").run_once()
    assert value(scrape(exp.registry), "egov_collector_up", collector="backup") == 0


def test_a_scrape_only_reads_the_cache(exporter) -> None:
    exp, _ = exporter
    calls: list[int] = []
    for p in exp.pollers:
        p.collect = lambda: calls.append(1)
    scrape(exp.registry)
    scrape(exp.registry)
    assert calls == []


def test_load_config_names_file_and_problem(tmp_path: Path) -> None:
    good = tmp_path / "ok.yml"
    good.write_text("listen: 127.0.0.1:9999\nrouters:\n  - {router: r1, site: s, level: commune, zone: z}\n")
    config = load_config(good)
    assert config.listen == "127.0.0.1:9999" and config.routers == [Router("r1", "s", "commune", "z")]
    bad = tmp_path / "bad.yml"
    bad.write_text("listen: x\napps: []\n")
    with pytest.raises(MonitoringError, match=r"bad.yml: unknown keys: apps"):
        load_config(bad)
    no_site = tmp_path / "no-site.yml"
    no_site.write_text("routers:\n  - {router: r1}\n")
    with pytest.raises(MonitoringError, match=r"no-site.yml: routers entries need router, site, level, zone"):
        load_config(no_site)
    broken = tmp_path / "broken.yml"
    broken.write_text("routers: [\n")
    with pytest.raises(MonitoringError, match=r"broken.yml:2: \(yaml\)"):
        load_config(broken)


def test_drift_file(tmp_path: Path) -> None:
    path = tmp_path / "drift.json"
    path.write_text('{"qn-core1": 0, "qn-ty-r1": 7}')
    assert read_drift_file(str(path)) == {"qn-core1": 0, "qn-ty-r1": 7}
    for bad in ('{"qn-core1": "many"}', '{"qn-core1": true}', "[1]"):
        path.write_text(bad)
        with pytest.raises(ValueError, match="router -> number"):
            read_drift_file(str(path))


def test_check_mode_validates_the_config_the_deploy_installs(tmp_path: Path) -> None:
    from monitoring.exporter.__main__ import main

    good = tmp_path / "ok.yml"
    good.write_text("listen: 127.0.0.1:9200\nbackup_status_file: /var/lib/egov/backup-status.json\n")
    assert main(["--check", "--config", str(good)]) == 0
    bad = tmp_path / "bad.yml"
    bad.write_text("listen: 127.0.0.1:9200\ninterval_seconds: 3\n")
    assert main(["--check", "--config", str(bad)]) == 2


# --- the probes blackbox took over, on the real blackbox_exporter ------------------------------

class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def blackbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's blackbox_exporter on 127.0.0.1 with the generated modules."""
    if shutil.which("prometheus-blackbox-exporter") is None:
        pytest.fail("prometheus-blackbox-exporter missing: apt-get install prometheus-blackbox-exporter")
    tmp = tmp_path_factory.mktemp("blackbox")
    (tmp / "blackbox.yml").write_text(yaml.safe_dump(blackbox_config("quangninh.gov.vn")))
    port = free_port()
    proc = subprocess.Popen(["prometheus-blackbox-exporter", f"--config.file={tmp / 'blackbox.yml'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("blackbox_exporter", lambda: urllib.request.urlopen(f"{url}/-/healthy", timeout=2).status == 200,
                 20, 0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def probe(blackbox: str, module: str, target: str) -> Samples:
    query = urllib.parse.urlencode({"module": module, "target": target})
    with urllib.request.urlopen(f"{blackbox}/probe?{query}", timeout=15) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_blackbox_http_health_module(blackbox: str) -> None:
    with http_serving(Health) as port:
        base = f"http://127.0.0.1:{port}"
        assert value(probe(blackbox, "http_health", f"{base}/healthz"), "probe_success") == 1
        assert value(probe(blackbox, "http_health", f"{base}/broken"), "probe_success") == 0  # a 503
    assert value(probe(blackbox, "http_health", f"http://127.0.0.1:{free_port()}/healthz"), "probe_success") == 0


def test_blackbox_tls_module_measures_even_an_expired_certificate(blackbox: str, tmp_path: Path) -> None:
    not_after = dt.datetime(2026, 1, 31, 12, 0, 0, tzinfo=dt.UTC)  # expired
    with self_signed_endpoint(tmp_path, "quangninh.gov.vn", dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                              not_after) as port:
        got = probe(blackbox, "tls_certificate", f"127.0.0.1:{port}")
    assert value(got, "probe_success") == 1
    assert value(got, "probe_ssl_earliest_cert_expiry") == not_after.timestamp()
    closed = probe(blackbox, "tls_certificate", f"127.0.0.1:{free_port()}")
    assert value(closed, "probe_success") == 0 and "probe_ssl_earliest_cert_expiry" not in names(closed)


def test_status_files_are_read_bounded(tmp_path: Path) -> None:
    """A FIFO, a directory or an oversized file is refused at once, never read until memory or time runs out."""
    import os

    from egov.errors import InputError
    from monitoring.exporter.sources import MAX_STATUS_BYTES, read_backup_status

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    big = tmp_path / "big.json"
    big.write_text('{"qn-core1": 0' + " " * MAX_STATUS_BYTES + "}")
    for path, problem in ((fifo, "FIFO"), (tmp_path, "directory"), (big, "larger than the limit")):
        for reader in (read_drift_file, read_backup_status):
            with pytest.raises(InputError, match=problem):
                reader(str(path))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        read_drift_file(str(tmp_path / "bad.json"))
