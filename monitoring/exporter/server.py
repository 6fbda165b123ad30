"""The running exporter: sources, cache, pollers and the collectors wired into a registry, served over HTTP."""

from __future__ import annotations

import hashlib
import logging
import platform
import threading
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import PlatformCollector, ProcessCollector
from prometheus_client.registry import CollectorRegistry

from monitoring.exporter.cache import Cache, Poller, pollers
from monitoring.exporter.collector import EgovCollector
from monitoring.exporter.config import ExporterConfig
from monitoring.exporter.sources import Sources

log = logging.getLogger(__name__)
PACKAGE = Path(__file__).resolve().parent


def revision(package: Path = PACKAGE) -> str:
    """sha1 over the package's modules (names and bytes): the same on the host as in the repo
    commit it was deployed from, so build_info tells which code runs."""
    digest = hashlib.sha1(usedforsecurity=False)
    for path in sorted(package.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


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


def build(config: ExporterConfig, sources: Sources | None = None, registry: CollectorRegistry | None = None,
          proc: str = "/proc") -> Exporter:
    """Wire sources, cache, pollers and the collectors into a registry (not started).

    Besides ours, prometheus_client's own process (``process_*``: CPU, memory, open files, from
    ``proc``) and platform (``python_info``) collectors.
    """
    sources = sources or Sources()
    registry = registry if registry is not None else CollectorRegistry()
    cache = Cache()
    ProcessCollector(registry=registry, proc=proc)
    PlatformCollector(registry=registry)
    registry.register(EgovCollector(config, cache, {"revision": revision(),
                                                    "python_version": platform.python_version()}))
    return Exporter(registry, pollers(config, sources, cache))


def serve(config: ExporterConfig, sources: Sources | None = None, stop: threading.Event | None = None) -> None:
    """Start the collectors and the HTTP endpoint (HTTPS to the web config's users when the
    config names one, as deployed); block until ``stop`` is set (or forever)."""
    from prometheus_client import make_wsgi_app, start_http_server

    host, _, port = config.listen.rpartition(":")
    exporter = build(config, sources)
    exporter.start()
    if config.web_config:
        from monitoring.exporter.webauth import serve_tls

        serve_tls(make_wsgi_app(exporter.registry), host or "0.0.0.0", int(port), config.web_config)
    else:
        start_http_server(int(port), addr=host or "0.0.0.0", registry=exporter.registry)
    log.info("egov exporter listening on %s%s", config.listen, " (TLS, basic auth)" if config.web_config else "")
    (stop or threading.Event()).wait()
