"""The prometheus_client collector: every metric family built fresh from the poll cache on each scrape."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

from monitoring.exporter.cache import Cache, Sample
from monitoring.exporter.config import TARGET_LABELS, ExporterConfig, Router

log = logging.getLogger(__name__)

# Said once in every HELP of a family a collector feeds: what a failed collector does.
ON_FAILURE = ("A failed read drops these series (no stale value is served); egov_collector_up is then 0 "
              "and egov_collector_last_success_timestamp_seconds says since when.")


class EgovCollector:
    """Builds every family fresh from the cache on each scrape; keeps nothing between scrapes."""

    def __init__(self, config: ExporterConfig, cache: Cache, build: Mapping[str, str]) -> None:
        self.config, self.cache, self.build = config, cache, dict(build)
        self.routers: dict[str, Router] = {r.router: r for r in config.routers}

    def describe(self) -> list[Metric]:
        return []  # families depend on the configuration; no description means no duplicate check at register

    def collect(self) -> Iterator[Metric]:
        info = InfoMetricFamily("egov_exporter_build", "The egov exporter's code (sha1 of its shipped modules)")
        info.add_metric([], self.build)
        yield info
        up = GaugeMetricFamily("egov_collector_up", "1 when the collector's last run succeeded", labels=["collector"])
        took = GaugeMetricFamily("egov_collector_duration_seconds", "Duration of the collector's last run",
                                 labels=["collector"])
        last = GaugeMetricFamily("egov_collector_last_success_timestamp_seconds",
                                 "When the collector last succeeded (0: never since the exporter started)",
                                 labels=["collector"])
        samples = dict(self.cache.items())
        for name, sample in samples.items():
            up.add_metric([name], 1 if sample.ok else 0)
            took.add_metric([name], sample.duration)
            last.add_metric([name], sample.last_success)
        yield up
        yield took
        yield last
        yield from self._drift(samples.get("drift"))
        yield from self._backup(samples.get("backup"))

    def _drift(self, sample: Sample | None) -> Iterator[Metric]:
        if sample is None or not sample.ok:
            return
        drift = GaugeMetricFamily("egov_router_config_drift_lines",
                                  "Lines that differ between the router's running and intended configuration, "
                                  "labelled with the router's own site, level and zone. " + ON_FAILURE,
                                  labels=["router", *TARGET_LABELS])
        unknown = []
        for router, lines in sorted(sample.value.items()):
            if router in self.routers:
                drift.add_metric(self.routers[router].labels(), lines)
            else:  # without its site it would be charged to this exporter's site
                unknown.append(router)
        if unknown:
            log.warning("drift of routers this exporter does not watch, not served: %s", ", ".join(unknown))
        yield drift

    @staticmethod
    def _backup(sample: Sample | None) -> Iterator[Metric]:
        if sample is None or not sample.ok:
            return
        last = GaugeMetricFamily("egov_backup_last_success_timestamp_seconds",
                                 "End of the last good backup of the database. " + ON_FAILURE, labels=["database"])
        size = GaugeMetricFamily("egov_backup_last_size_bytes", "Size of the last good backup. " + ON_FAILURE,
                                 labels=["database"])
        for db, fields_ in sorted(sample.value.items()):
            last.add_metric([db], fields_["last_success_timestamp"])
            if "size_bytes" in fields_:
                size.add_metric([db], fields_["size_bytes"])
        yield last
        yield size
