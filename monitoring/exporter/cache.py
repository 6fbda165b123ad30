"""The poll cache: background pollers run the slow sources and keep each one's last outcome.

A failed run replaces the value with nothing: the collector then serves no series for that
source (never the last good value as if it were current), and says so with
``egov_collector_up`` 0 and the time of the last success.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from monitoring.exporter.config import ExporterConfig
from monitoring.exporter.sources import Sources, read_drift_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    """The last outcome of one background collector (``value`` is None unless ``ok``)."""

    value: Any = None
    ok: bool = False
    duration: float = 0.0
    last_success: float = 0.0  # unix seconds; 0 when it never succeeded


class Cache:
    """Thread-safe last outcomes by collector name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, Sample] = {}

    def put(self, name: str, value: Any, ok: bool, duration: float, now: float) -> None:
        with self._lock:
            if ok:
                self._samples[name] = Sample(value, True, duration, now)
            else:
                previous = self._samples.get(name, Sample())
                self._samples[name] = Sample(None, False, duration, previous.last_success)

    def items(self) -> list[tuple[str, Sample]]:
        with self._lock:
            return sorted(self._samples.items())


class Poller:
    """Runs ``collect()`` every ``interval`` seconds in a daemon thread and caches the outcome."""

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


def pollers(config: ExporterConfig, sources: Sources, cache: Cache) -> list[Poller]:
    """The background collectors this configuration needs: backup status, router drift."""
    out: list[Poller] = []
    if config.backup_status_file:
        out.append(Poller("backup", functools.partial(sources.backup, config.backup_status_file), config.interval,
                          cache))
    drift = sources.drift
    if drift is None and config.drift_file:
        drift = functools.partial(read_drift_file, config.drift_file)
    if drift is not None:
        out.append(Poller("drift", drift, config.drift_interval, cache))
    return out
