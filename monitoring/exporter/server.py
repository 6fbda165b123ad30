"""The running exporter: sources, cache, pollers and the collector wired into a registry, served over HTTP."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from prometheus_client.registry import CollectorRegistry

from monitoring.exporter.cache import Cache, Poller, pollers
from monitoring.exporter.collector import EgovCollector
from monitoring.exporter.config import ExporterConfig
from monitoring.exporter.sources import Sources

log = logging.getLogger(__name__)


@dataclass
class Exporter:
    registry: CollectorRegistry
    pollers: list[Poller]

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()


def build(config: ExporterConfig, sources: Sources | None = None,
          registry: CollectorRegistry | None = None) -> Exporter:
    """Wire sources, cache, pollers and the collector into a registry (not started)."""
    sources = sources or Sources()
    registry = registry if registry is not None else CollectorRegistry()
    cache = Cache()
    registry.register(EgovCollector(config, cache, sources))
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
