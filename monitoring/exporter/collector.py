"""The prometheus_client collector: every metric family built fresh from the cache on each scrape."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric

from monitoring.exporter.cache import Cache, Sample
from monitoring.exporter.config import ExporterConfig
from monitoring.exporter.sources import Sources

log = logging.getLogger(__name__)


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
            # a local file, cheap enough to read on the scrape itself
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
