"""The poll cache: background pollers run the slow sources and keep each one's last result."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from monitoring.exporter.config import ExporterConfig
from monitoring.exporter.sources import Sources, read_drift_file

log = logging.getLogger(__name__)


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
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def pollers(config: ExporterConfig, sources: Sources, cache: Cache) -> list[Poller]:
    """The background collectors this configuration needs."""
    out: list[Poller] = []
    timeout = config.timeout
    if config.apps:
        out.append(Poller("apps", lambda: _parallel(config.apps, lambda a: (a, *sources.http(a.url, timeout))),
                          config.interval, cache))
    if config.tls:
        out.append(Poller("tls", lambda: _parallel(config.tls, lambda e: (e, sources.cert(e, timeout))),
                          config.interval, cache))
    if config.docexchange_url:
        url = config.docexchange_url
        out.append(Poller("docexchange", lambda: sources.http(url, timeout), config.interval, cache))
    drift = sources.drift
    if drift is None and config.drift_file:
        drift = functools.partial(read_drift_file, config.drift_file)
    if drift is not None:
        out.append(Poller("drift", drift, config.drift_interval, cache))
    return out
