"""Run one function per target in a bounded thread pool; one failure never stops the others."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from egov.errors import report_name
from egov.results import Result, RunResult
from egov.secrets import redact

log = logging.getLogger(__name__)
# the pool a caller gets when it asks for one thread per target (``workers=None``), at most this many:
# netmiko polls each session's channel every 10 ms, so past about 50 sessions the threads cost more CPU
# than they save in waiting. Measured on 2 cores, pushing the province's 198 FRR routers: 20 workers
# 58 s, 50 workers 38 s, 198 workers twice the CPU of 20 and saves answered too late (docs/lab.md)
MAX_WORKERS = 50
# how often the caller's thread wakes while it waits: Python runs signal handlers only in the main
# thread, and a Ctrl-C the kernel hands to a worker thread would otherwise wait there, unhandled,
# until some target finished, while the workers went on to start targets still queued
WAKE_SECONDS = 0.1


def run_parallel(
    work: Callable[[str], Result],
    targets: Iterable[str],
    workers: int | None = 10,
    on_done: Callable[[Result], None] | None = None,
) -> RunResult:
    """Call ``work(target)`` for every target, at most ``workers`` at once.

    + work: does the job for one target and returns its Result; an exception it raises
      becomes a failed Result for that target (message redacted), never a crash of the run
    + targets: names, in the order the RunResult keeps
    + workers: the size of the thread pool (one thread per connection); None: one per target (at most
      ``MAX_WORKERS``), for work that mostly waits on the other end (SSH sessions, timers)
    + on_done: called in the caller's thread as each target finishes (progress output)
    """
    names = list(targets)
    done: dict[str, Result] = {}
    size = min(len(names), MAX_WORKERS) if workers is None else workers
    with ThreadPoolExecutor(max_workers=max(1, size)) as pool:
        futures = {pool.submit(work, name): name for name in names}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=WAKE_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                name = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # a target's failure is data, not a crash
                    log.debug("work on %s raised", name, exc_info=True)
                    result = Result(target=name, failed=True, error=redact(f"{report_name(exc)}: {exc}"))
                done[name] = result
                if on_done is not None:
                    on_done(result)
    return RunResult((name, done[name]) for name in names)
