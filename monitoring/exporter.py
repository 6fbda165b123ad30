"""The egov exporter: what no stock exporter knows about the platform.

Metrics (Prometheus naming: ``egov_`` prefix, base units in the name):

    egov_app_up{app,target,url}                         1 when the health endpoint answers 2xx
    egov_app_health_latency_seconds{app,target,url}     time of the last health request
    egov_tls_up{endpoint}                               1 when a TLS handshake got a certificate
    egov_tls_certificate_expiry_timestamp_seconds{endpoint}  notAfter of the served certificate
    egov_backup_last_success_timestamp_seconds{database}     end of the last good backup
    egov_backup_last_size_bytes{database}
    egov_docexchange_up{url}, egov_docexchange_latency_seconds{url}
    egov_router_config_drift_lines{router}              lines that differ, running vs intended
    egov_collector_up{collector}, egov_collector_duration_seconds{collector},
    egov_collector_last_success_timestamp_seconds{collector}

Slow sources (HTTP, TLS, router drift) run in background threads on an interval and leave
their last result in a cache; a scrape only reads the cache and the backup status file, so it
never waits on the network and never logs into a router. Metric families are built fresh on
every scrape. Sources are injected (plain callables), so tests feed fixtures.

This module is shipped on its own to the hosts that run it (with ``egov/errors.py``): it needs
only the standard library, prometheus_client, PyYAML and cryptography (all Debian packages).
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from egov.errors import MonitoringError

log = logging.getLogger(__name__)

# The backup job writes this JSON after every good backup (see docs/monitoring.md):
#   {"<database>": {"last_success_timestamp": <unix seconds>, "size_bytes": <int>}, ...}
BACKUP_STATUS_FILE = "/var/lib/egov/backup-status.json"


@dataclass(frozen=True)
class App:
    app: str
    target: str
    url: str


@dataclass(frozen=True)
class TlsEndpoint:
    endpoint: str
    host: str
    port: int
    server_name: str


@dataclass(frozen=True)
class ExporterConfig:
    """The exporter's configuration file (generated per host by ``egov monitor config``)."""

    listen: str = "0.0.0.0:9200"
    interval: float = 30.0
    timeout: float = 5.0
    apps: list[App] = field(default_factory=list)
    tls: list[TlsEndpoint] = field(default_factory=list)
    backup_status_file: str | None = None
    docexchange_url: str | None = None
    drift_file: str | None = None
    drift_interval: float = 900.0


def load_config(path: str | Path) -> ExporterConfig:
    """Read and check the YAML config; MonitoringError names the file and the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise MonitoringError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise MonitoringError(f"{path}{f':{mark.line + 1}' if mark else ''}: not valid YAML") from None
    if not isinstance(data, dict):
        raise MonitoringError(f"{path}: must be a mapping")
    known = set(ExporterConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise MonitoringError(f"{path}: unknown keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        apps = [App(str(a["app"]), str(a["target"]), str(a["url"])) for a in data.pop("apps", [])]
        tls = [TlsEndpoint(str(t["endpoint"]), str(t["host"]), int(t["port"]), str(t.get("server_name", t["host"])))
               for t in data.pop("tls", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise MonitoringError(f"{path}: apps/tls entries need app, target, url / endpoint, host, port: {exc}") from None
    try:
        return ExporterConfig(apps=apps, tls=tls, **data)
    except TypeError as exc:
        raise MonitoringError(f"{path}: {exc}") from None


# --- sources: plain functions, each returns what it could read -------------------------------

def probe_http(url: str, timeout: float) -> tuple[bool, float]:
    """(answered 2xx, seconds taken). Never raises for network trouble."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            ok = 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        ok = False
    return ok, time.monotonic() - start


def cert_not_after(endpoint: TlsEndpoint, timeout: float) -> float | None:
    """notAfter (unix seconds) of the certificate served at the endpoint; None when no handshake.

    Verification is off on purpose: an expired or privately signed certificate must still be
    measured, not hidden behind a handshake error.
    """
    from cryptography import x509

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as sock, \
                ctx.wrap_socket(sock, server_hostname=endpoint.server_name) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    not_after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=UTC)
    return not_after.timestamp()


def read_backup_status(path: str) -> dict[str, dict[str, float]]:
    """The backup job's status file: database -> {last_success_timestamp, size_bytes?}."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must be a JSON object of database -> status")  # noqa: TRY004 - bad content
    out: dict[str, dict[str, float]] = {}
    for db, status in data.items():
        if not isinstance(status, dict) or not isinstance(status.get("last_success_timestamp"), (int, float)):
            raise ValueError(f"{path}: {db}: needs a numeric last_success_timestamp")  # noqa: TRY004 - bad content
        out[str(db)] = {k: float(v) for k, v in status.items() if isinstance(v, (int, float))}
    return out


def read_drift_file(path: str) -> dict[str, int]:
    """Router -> number of differing lines, as written by a periodic ``egov net diff --json``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
        raise ValueError(f"{path}: must be a JSON object of router -> number of differing lines")
    return {str(k): v for k, v in data.items()}


# --- background collection ---------------------------------------------------------------------

@dataclass
class Sample:
    """The last outcome of one background collector."""

    value: Any = None
    ok: bool = False
    duration: float = 0.0
    last_success: float = 0.0


class Cache:
    """Thread-safe last results by collector name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, Sample] = {}

    def put(self, name: str, value: Any, ok: bool, duration: float, now: float) -> None:
        with self._lock:
            previous = self._samples.get(name, Sample())
            if ok:
                self._samples[name] = Sample(value, True, duration, now)
            else:  # keep the last good value so one failed round does not blank the metrics
                self._samples[name] = Sample(previous.value, False, duration, previous.last_success)

    def items(self) -> list[tuple[str, Sample]]:
        with self._lock:
            return sorted(self._samples.items())

    def get(self, name: str) -> Sample | None:
        with self._lock:
            return self._samples.get(name)


class Poller:
    """Runs ``collect()`` every ``interval`` seconds in a daemon thread and caches the result."""

    def __init__(self, name: str, collect: Callable[[], Any], interval: float, cache: Cache,
                 clock: Callable[[], float] = time.time) -> None:
        self.name, self.collect, self.interval, self.cache, self.clock = name, collect, interval, cache, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"egov-{name}", daemon=True)

    def run_once(self) -> None:
        start = time.monotonic()
        try:
            value, ok = self.collect(), True
        except Exception as exc:  # noqa: BLE001 - a failing source is reported as a metric, not a crash
            log.warning("collector %s failed: %s", self.name, exc)
            value, ok = None, False
        self.cache.put(self.name, value, ok, time.monotonic() - start, self.clock())

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


def _parallel(items: list[Any], fn: Callable[[Any], Any], workers: int = 8) -> list[Any]:
    """Run ``fn`` over items concurrently (slow endpoints must not add up)."""
    from concurrent.futures import ThreadPoolExecutor

    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


@dataclass
class Sources:
    """What the exporter reads; replace any of these in tests."""

    http: Callable[[str, float], tuple[bool, float]] = probe_http
    cert: Callable[[TlsEndpoint, float], float | None] = cert_not_after
    backup: Callable[[str], dict[str, dict[str, float]]] = read_backup_status
    drift: Callable[[], dict[str, int]] | None = None


def pollers(config: ExporterConfig, sources: Sources, cache: Cache) -> list[Poller]:
    """The background collectors this configuration needs."""
    out: list[Poller] = []
    t = config.timeout
    if config.apps:
        out.append(Poller("apps", lambda: _parallel(config.apps, lambda a: (a, *sources.http(a.url, t))),
                          config.interval, cache))
    if config.tls:
        out.append(Poller("tls", lambda: _parallel(config.tls, lambda e: (e, sources.cert(e, t))),
                          config.interval, cache))
    if config.docexchange_url:
        url = config.docexchange_url
        out.append(Poller("docexchange", lambda: sources.http(url, t), config.interval, cache))
    drift = sources.drift
    if drift is None and config.drift_file:
        path = config.drift_file
        drift = lambda: read_drift_file(path)
    if drift is not None:
        out.append(Poller("drift", drift, config.drift_interval, cache))
    return out


class EgovCollector:
    """Builds every family fresh from the cache (and the backup file) on each scrape."""

    def __init__(self, config: ExporterConfig, cache: Cache, sources: Sources) -> None:
        self.config, self.cache, self.sources = config, cache, sources

    def describe(self) -> list[Metric]:
        return []  # families depend on the configuration; no description means no duplicate check at register

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("egov_collector_up", "1 when the collector's last run succeeded", labels=["collector"])
        took = GaugeMetricFamily("egov_collector_duration_seconds", "Duration of the collector's last run",
                                 labels=["collector"])
        last = GaugeMetricFamily("egov_collector_last_success_timestamp_seconds",
                                 "When the collector last succeeded", labels=["collector"])
        samples = dict(self.cache.items())
        for name, sample in samples.items():
            up.add_metric([name], 1 if sample.ok else 0)
            took.add_metric([name], sample.duration)
            last.add_metric([name], sample.last_success)
        yield from self._apps(samples.get("apps"))
        yield from self._tls(samples.get("tls"))
        yield from self._docexchange(samples.get("docexchange"))
        yield from self._drift(samples.get("drift"))
        if self.config.backup_status_file:
            start = time.monotonic()
            try:
                status, ok = self.sources.backup(self.config.backup_status_file), True
            except (OSError, ValueError) as exc:
                log.warning("backup status %s: %s", self.config.backup_status_file, exc)
                status, ok = {}, False
            yield from self._backup(status)
            up.add_metric(["backup"], 1 if ok else 0)
            took.add_metric(["backup"], time.monotonic() - start)
        yield up
        yield took
        yield last

    def _apps(self, sample: Sample | None) -> Iterator[Metric]:
        if sample is None or sample.value is None:
            return
        up = GaugeMetricFamily("egov_app_up", "1 when the application's health endpoint answers 2xx",
                               labels=["app", "target", "url"])
        latency = GaugeMetricFamily("egov_app_health_latency_seconds", "Time taken by the last health request",
                                    labels=["app", "target", "url"])
        for app, ok, seconds in sample.value:
            up.add_metric([app.app, app.target, app.url], 1 if ok else 0)
            latency.add_metric([app.app, app.target, app.url], seconds)
        yield up
        yield latency

    def _tls(self, sample: Sample | None) -> Iterator[Metric]:
        if sample is None or sample.value is None:
            return
        up = GaugeMetricFamily("egov_tls_up", "1 when a TLS handshake with the endpoint returned a certificate",
                               labels=["endpoint"])
        expiry = GaugeMetricFamily("egov_tls_certificate_expiry_timestamp_seconds",
                                   "notAfter of the certificate the endpoint serves", labels=["endpoint"])
        for endpoint, not_after in sample.value:
            up.add_metric([endpoint.endpoint], 0 if not_after is None else 1)
            if not_after is not None:
                expiry.add_metric([endpoint.endpoint], not_after)
        yield up
        yield expiry

    def _docexchange(self, sample: Sample | None) -> Iterator[Metric]:
        if sample is None or sample.value is None:
            return
        ok, seconds = sample.value
        url = self.config.docexchange_url or ""
        up = GaugeMetricFamily("egov_docexchange_up", "1 when the document-exchange platform answers 2xx",
                               labels=["url"])
        up.add_metric([url], 1 if ok else 0)
        latency = GaugeMetricFamily("egov_docexchange_latency_seconds", "Time of the last request", labels=["url"])
        latency.add_metric([url], seconds)
        yield up
        yield latency

    def _drift(self, sample: Sample | None) -> Iterator[Metric]:
        if sample is None or sample.value is None:
            return
        drift = GaugeMetricFamily("egov_router_config_drift_lines",
                                  "Lines that differ between the router's running and intended configuration",
                                  labels=["router"])
        for router, lines in sorted(sample.value.items()):
            drift.add_metric([router], lines)
        yield drift

    @staticmethod
    def _backup(status: Mapping[str, Mapping[str, float]]) -> Iterator[Metric]:
        last = GaugeMetricFamily("egov_backup_last_success_timestamp_seconds",
                                 "End of the last good backup of the database", labels=["database"])
        size = GaugeMetricFamily("egov_backup_last_size_bytes", "Size of the last good backup", labels=["database"])
        for db, fields_ in sorted(status.items()):
            last.add_metric([db], fields_["last_success_timestamp"])
            if "size_bytes" in fields_:
                size.add_metric([db], fields_["size_bytes"])
        yield last
        yield size


@dataclass
class Exporter:
    registry: CollectorRegistry
    pollers: list[Poller]

    def start(self) -> None:
        for p in self.pollers:
            p.start()

    def stop(self) -> None:
        for p in self.pollers:
            p.stop()


def build(config: ExporterConfig, sources: Sources | None = None,
          registry: CollectorRegistry | None = None) -> Exporter:
    """Wire sources, cache, pollers and the collector into a registry (not started)."""
    sources = sources or Sources()
    registry = registry if registry is not None else CollectorRegistry()
    cache = Cache()
    registry.register(EgovCollector(config, cache, sources))  # type: ignore[arg-type]
    return Exporter(registry, pollers(config, sources, cache))


def serve(config: ExporterConfig, sources: Sources | None = None, stop: threading.Event | None = None) -> None:
    """Start the collectors and the HTTP endpoint; block until ``stop`` is set (or forever)."""
    from prometheus_client import start_http_server

    host, _, port = config.listen.rpartition(":")
    exporter = build(config, sources)
    exporter.start()
    start_http_server(int(port), addr=host or "0.0.0.0", registry=exporter.registry)
    log.info("egov exporter listening on %s", config.listen)
    (stop or threading.Event()).wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="egov-exporter", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="/etc/egov/exporter.yml")
    parser.add_argument("--listen", default=None, help="host:port (overrides the config)")
    parser.add_argument("--check", action="store_true", help="only validate the config (exit 0 when valid, else 2)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except MonitoringError as exc:
        log.error("%s", exc)
        return 2
    if args.check:
        return 0
    if args.listen:
        config = ExporterConfig(**{**config.__dict__, "listen": args.listen})
    serve(config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
