"""Stopping a long run cleanly: SIGINT (Ctrl-C) and SIGTERM become a stop request the work polls.

Why not KeyboardInterrupt: it lands in the main thread at an arbitrary point while worker threads
keep going, so devices still queued would start and those in flight would be left half-done. A
stop request instead lets the run start nothing new and finish (confirm or restore) what it began.
A second signal calls the caller's ``again`` (the CLI says what is left unfinished, then exits).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stop:
    """A run's stop request: set once, from a signal handler or a test; polled by the workers."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum = 0

    def request(self, signum: int = signal.SIGINT) -> None:
        if not self._event.is_set():
            self.signum = signum
            self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    @property
    def exit_code(self) -> int:
        """What a shell reports for a process ended by the signal (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


@contextmanager
def stop_on_signals(stop: Stop, again: Callable[[int], None]) -> Iterator[Stop]:
    """While inside, the first SIGINT or SIGTERM requests ``stop``; a second one calls ``again(signum)``.
    Handlers can only be installed from the main thread; elsewhere the block runs without them."""

    def handler(signum: int, frame: object) -> None:
        if stop.requested:
            again(signum)
        else:
            stop.request(signum)

    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {signum: signal.signal(signum, handler) for signum in SIGNALS}
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
