"""Run the deploys on inventory hosts through the pyinfra API, with progress and typed results.

``run_deploy`` starts a child Python process, ``python -m deploys.pyinfra_process``, that runs
pyinfra (pyinfra needs gevent's monkey-patching for parallel SSH, which must not leak into the
caller's process) and reads one JSON event per line from it:

    {"event": "plan",   "host": h, "ops": n}                   # operations prepared for h
    {"event": "op",     "host": h, "op": name, "status": s}    # s: changed | ok | failed
    {"event": "done",   "host": h, "status": s}                # s: failed | ok (one per stage)
    {"event": "result", "results": {...RunResult.to_dict()...}}

The stages, in which hosts and roles go first, are in ``deploys/stages.py``. A host that cannot
be reached, or whose operation fails, is reported failed; the other hosts go on to the end.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from egov.connection import require_lab_up
from egov.errors import DeployError
from egov.results import Result, RunResult
from egov.secrets import Secrets, redact

if TYPE_CHECKING:
    from inventory import Inventory

log = logging.getLogger(__name__)

CHILD = "deploys.pyinfra_process"


@dataclass(frozen=True)
class Progress:
    """One step of a deploy, for a progress display.

    + host: inventory host name
    + kind: ``plan`` (``total`` operations prepared), ``op`` (one operation finished) or ``done``
    + op: the operation's name
    + status: ``changed``, ``ok``, ``failed`` (for ``op``); ``failed`` or ``ok`` for ``done``
    + total: number of operations prepared for the host (``plan``)
    """

    host: str
    kind: str
    op: str = ""
    status: str = ""
    total: int = 0


def run_deploy(
    inv: Inventory,
    limits: Iterable[str] = (),
    dry: bool = False,
    diff: bool = False,
    secrets: str | Path | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Deploy base and its roles on every selected host of ``inv``.

    + inv: the loaded inventory (its file is re-read by the pyinfra process)
    + limits: ``--limit`` values (site, level, role, host names); none means every host
    + dry: prepare only (pyinfra dry run): report what would change, change nothing
    + diff: put the file diffs (redacted) in each host's ``Result.diff``
    + secrets: a 0600 secrets file (else ``$EGOV_SECRETS_FILE`` and ``EGOV_SECRET_*``)
    + on_progress: called for every ``Progress`` event, in the caller's thread

    Returns one Result per selected host: ``data["changes"]`` (operations that changed or would
    change something), ``data["ops"]``, ``data["failed_op"]`` and ``data["seconds"]``.
    """
    require_lab_up(inv)
    hosts, _routers = inv.select(list(limits))
    if not hosts:
        raise DeployError(f"--limit {' '.join(limits)}: no host of {inv.path} matches")
    Secrets(secrets)  # refuse an unsafe secrets file here, before any host is touched
    argv = [sys.executable, "-m", CHILD, "--inventory", str(inv.path)]
    for host in hosts:
        argv += ["--host", host.name]
    if dry:
        argv.append("--dry")
    if diff:
        argv.append("--diff")
    if secrets:
        argv += ["--secrets", str(secrets)]
    started = time.monotonic()
    # pyinfra's log goes to a file: a pipe read only at the end would fill and stall the child
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log_file:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log_file, text=True,
                                cwd=Path(__file__).resolve().parent.parent)
        assert proc.stdout is not None
        final = read_events(proc.stdout, on_progress)
        proc.wait()
        log_file.seek(0)
        stderr = log_file.read()
    if final is None:
        tail = redact("\n".join(stderr.strip().splitlines()[-15:]))
        raise DeployError(f"the pyinfra run ended without a result (exit {proc.returncode}):\n{tail}")
    log.debug("pyinfra run took %.1fs; its log:\n%s", time.monotonic() - started, redact(stderr))
    return RunResult((name, Result(**final[name])) for name in (h.name for h in hosts) if name in final)


def read_events(lines: Iterable[str], on_progress: Callable[[Progress], None] | None = None) -> dict[str, Any] | None:
    """Pass each progress event of the child's output to ``on_progress``; return the final
    ``result`` event's results (host -> ``Result`` fields), None when the child sent none."""
    final: dict[str, Any] | None = None
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a library printing to stdout; the events are JSON lines only
        if event.get("event") == "result":
            final = event["results"]
        elif on_progress is not None:
            on_progress(Progress(host=event["host"], kind=event["event"], op=event.get("op", ""),
                                 status=event.get("status", ""), total=event.get("ops", 0)))
    return final
