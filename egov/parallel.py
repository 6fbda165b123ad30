"""Run one function per target in a bounded thread pool; one failure never stops the others."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed

from egov.errors import report_name
from egov.results import Result, RunResult
from egov.secrets import redact

log = logging.getLogger(__name__)


def run_parallel(
    work: Callable[[str], Result],
    targets: Iterable[str],
    workers: int = 10,
    on_done: Callable[[Result], None] | None = None,
) -> RunResult:
    """Call ``work(target)`` for every target, at most ``workers`` at once.

    + work: does the job for one target and returns its Result; an exception it raises
      becomes a failed Result for that target (message redacted), never a crash of the run
    + targets: names, in the order the RunResult keeps
    + workers: the size of the thread pool (one thread per connection)
    + on_done: called in the caller's thread as each target finishes (progress output)
    """
    names = list(targets)
    done: dict[str, Result] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(work, name): name for name in names}
        for future in as_completed(futures):
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
