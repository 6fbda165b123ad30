"""One stage of a deploy as one pyinfra State (in the child process, ``deploys/pyinfra_process.py``):
set the State up, prepare each host's deploys, execute, and assemble each host's ``Result``,
writing the progress events (``deploys/runner.py`` lists them) as it goes.

The State covers the whole inventory (a role finds its peers in every group), limited to the
stage's hosts. pyinfra's internals are read through ``deploys/pyinfra_internals.py`` only.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from deploys import fact_cache, fact_merge
from deploys import pyinfra_internals as internals
from deploys.graph import members
from egov.results import Result
from egov.secrets import redact
from inventory.pyinfra_bridge import Groups

if TYPE_CHECKING:
    from pyinfra.api import Host, State

log = logging.getLogger(__name__)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def emit(out: IO[str], event: dict[str, Any]) -> None:
    """Write one event for the parent, as one JSON line."""
    out.write(json.dumps(event) + "\n")
    out.flush()


def name_of(host: Host) -> str:
    """The inventory name of a pyinfra host."""
    return str(host.data.get("egov_name") or host.name)


@dataclass
class StageRecord:
    """What one stage learns per pyinfra host name: its errors, its operations' own names, its diffs,
    how its facts were gathered."""

    hosts: list[str]
    errors: dict[str, str] = field(default_factory=dict)
    diffs: dict[str, str] = field(default_factory=dict)
    # per host, how its facts were gathered (``fact_cache.FactCache.counts``)
    facts: dict[str, dict[str, int]] = field(default_factory=dict)
    op_names: dict[str, dict[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.op_names = {n: {} for n in self.hosts}

    def op_name(self, host: Host, op_hash: str) -> str:
        """The host's own name for its operation ``op_hash`` (the hash if none was recorded)."""
        return self.op_names[host.name].get(op_hash, op_hash)


class _Capture(logging.Handler):
    """Collects pyinfra's INFO lines (the diffs with ``--diff``) for the host being prepared."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(ANSI.sub("", record.getMessage()))


def new_state(groups: Groups, stage: list[str], diff: bool) -> State:
    """A State over every host of ``groups``, limited to the ``stage`` hosts."""
    from pyinfra.api import Config, Inventory, State

    internals.cache_global_arguments()
    inventory = Inventory((members(groups), {}), **groups)
    config = Config(CONNECT_TIMEOUT=10, DIFF=diff, FAIL_PERCENT=None, PARALLEL=20)
    state = State(check_for_changes=True)
    state.init(inventory, config, initial_limit=[inventory.get_host(n) for n in stage])
    return state


def add_callbacks(state: State, record: StageRecord, out: IO[str]) -> None:
    """Record connection and operation errors; write an ``op`` event as each operation ends."""
    from pyinfra.api.state import BaseStateCallback

    class Callbacks(BaseStateCallback):
        @staticmethod
        def host_connect_error(state: State, host: Host, error: Any) -> None:
            record.errors[host.name] = f"cannot connect: {error}"

        @staticmethod
        def operation_host_error(state: State, host: Host, op_hash: str, *args: Any) -> None:
            record.errors.setdefault(host.name, f"operation failed: {record.op_name(host, op_hash)}")

        @staticmethod
        def operation_end(state: State, op_hash: str) -> None:
            for host in state.inventory:
                op = internals.prepared_op(state, host, op_hash) if host.name in record.op_names else None
                if op is None or not op.meta.is_complete():
                    continue
                status = "changed" if op.meta.did_change() else "ok" if op.meta.did_succeed() else "failed"
                emit(out, {"event": "op", "host": name_of(host), "op": record.op_name(host, op_hash),
                           "status": status})

    state.add_callback_handler(Callbacks())


def prepare(state: State, only: tuple[str, ...] | None, diff: bool, record: StageRecord, out: IO[str]) -> None:
    """Add base and the roles (``only`` these, if given) of every connected host of the stage; a
    host whose deploy cannot be prepared is failed with the error. Writes a ``plan`` event per host."""
    import gevent
    from pyinfra.api.deploy import add_deploy
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.context import ctx_config, ctx_inventory, ctx_state

    from deploys.site import apply_host

    def prepare_host(host: Host) -> None:
        try:
            with ctx_config.use(state.config.copy()):
                add_deploy(state, apply_host, host=host, only=only)
        except Exception as exc:  # one host's bad data never stops the others; -vv shows where
            log.debug("preparing %s", host.name, exc_info=True)
            record.errors[host.name] = redact(f"preparing the deploy: {exc}")

    active = list(state.inventory.get_active_hosts())
    captures: dict[str, _Capture] = {}
    # the state is process-wide in pyinfra (only host and config are per greenlet), as in its CLI
    ctx_state.set(state)
    ctx_inventory.set(state.inventory)
    with internals.recording_op_names(record.op_names):
        if diff:
            # pyinfra logs the diffs while preparing; one host at a time keeps each host's own
            pyinfra_logger = logging.getLogger("pyinfra")
            for host in active:
                captures[host.name] = _Capture()
                pyinfra_logger.addHandler(captures[host.name])
                try:
                    prepare_host(host)
                finally:
                    pyinfra_logger.removeHandler(captures[host.name])
        else:  # facts are SSH round trips: prepare every host at once
            gevent.joinall([gevent.spawn(prepare_host, host) for host in active])
    for host in active:
        record.diffs[host.name] = redact("\n".join(captures[host.name].lines)) if host.name in captures else ""
        if host.name in record.errors:
            try:
                state.fail_hosts({host})
            except PyinfraError:
                pass  # every host failed to prepare; each error is recorded
        emit(out, {"event": "plan", "host": name_of(host), "ops": internals.op_count(host)})


def execute(state: State, dry: bool) -> set[Host]:
    """Run the prepared operations (not when ``dry``); return the idle hosts, which had nothing to run.

    A host on which no prepared operation would change anything has nothing to execute: it sits
    out the execution (it is not failed), which makes a no-op re-run cost the fact gathering only.
    An operation under ``_if`` (a reload or check after an earlier one changed) does not count:
    it runs only after one that would change.
    """
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.operations import run_ops

    idle = {h for h in state.inventory.get_active_hosts()
            if not any(op.would_change for op in internals.prepared_ops(state, h))}
    internals.sit_out(state, idle)
    if not dry and state.inventory.get_active_hosts():
        try:
            run_ops(state)
        except PyinfraError:
            pass  # every host failed; each one's error is recorded
    return idle


def host_result(state: State, host: Host, record: StageRecord, idle: bool, dry: bool, seconds: float) -> Result:
    """What the stage did on ``host``: the operations that changed (or, ``dry``, would change), the
    first that failed, with its last lines of stderr."""
    ops = internals.prepared_ops(state, host)
    if dry:
        # a dependent op (``_if``) only runs when its parent changes; count the parent alone
        changed_ops = [record.op_name(host, op.op_hash) for op in ops if op.would_change]
        failed_op = ""
    elif idle:
        changed_ops, failed_op = [], ""
    else:
        changed_ops = [record.op_name(host, op.op_hash) for op in ops if op.meta.is_complete() and op.meta.did_change()]
        failed = [op for op in ops if op.meta.is_complete() and op.meta.did_error()]
        failed_op = record.op_names[host.name].get(failed[0].op_hash, "") if failed else ""
        if failed:
            stderr = "; ".join(failed[0].meta.stderr_lines[-3:])
            record.errors[host.name] = redact(f"operation failed: {failed_op}" + (f": {stderr}" if stderr else ""))
    error = record.errors.get(host.name, "")
    failed_host = bool(error) or host in state.failed_hosts
    return Result(target=name_of(host), changed=bool(changed_ops), failed=failed_host,
                  error=error or ("failed" if failed_host else ""), diff=record.diffs.get(host.name, ""),
                  data={"changes": len(changed_ops), "changed_ops": changed_ops, "ops": len(ops),
                        "failed_op": failed_op, "seconds": seconds, "dry": dry,
                        "facts": record.facts.get(host.name, {})})


def rehearse(groups: Groups, stage: list[str], only: tuple[str, ...] | None, diff: bool,
             connected: set[str]) -> fact_cache.Rehearsal:
    """Prepare the stage's deploys on a throwaway State (the ``connected`` hosts), its facts answered
    by a FactCache: what ``fact_cache.gather`` learns from which facts the deploys will ask."""

    def run(cache: fact_cache.FactCache) -> None:
        state = new_state(groups, stage, diff)
        for host in state.inventory:
            if host.name in connected:
                state.activate_host(host)
        # what pyinfra says meanwhile (diffs, warnings) is about made-up facts: kept out of the log
        pyinfra_logger = logging.getLogger("pyinfra")
        pyinfra_logger.disabled = True
        record = StageRecord(stage)
        try:
            with internals.answering_facts(cache.hook):
                prepare(state, only, False, record, io.StringIO())
        finally:
            pyinfra_logger.disabled = False
        for name, error in record.errors.items():
            log.info("rehearsal of %s stopped (its later facts are asked next round): %s", name, error)

    return run


def run_stage(groups: Groups, stage: list[str], only: tuple[str, ...] | None, dry: bool, diff: bool,
              out: IO[str], memos: Path | None = None) -> dict[str, Result]:
    """Run one pyinfra State over the whole inventory, limited to the ``stage`` hosts (and roles);
    return each stage host's Result by inventory name, writing a ``done`` event for each. The fact
    commands each host's preparation asked are remembered under ``memos`` for the next run's."""
    from pyinfra.api.connect import connect_all, disconnect_all
    from pyinfra.api.exceptions import PyinfraError

    from deploys.site import applied_roles

    state = new_state(groups, stage, diff)
    record = StageRecord(stage)
    add_callbacks(state, record, out)
    started = time.monotonic()
    try:
        connect_all(state)
    except PyinfraError:
        pass  # "No hosts remaining!": every host of the stage is down; reported below
    connected = {h.name for h in state.inventory.get_active_hosts()}
    memo = fact_cache.Memo(memos, "+".join(only or ("all",)), diff) if memos else None
    applied = {h.name: applied_roles(h, only) for h in state.inventory if h.name in connected}
    cache = fact_cache.gather(state, rehearse(groups, stage, only, diff, connected), memo, applied)
    with internals.answering_facts(cache.hook):
        prepare(state, only, diff, record, out)
        idle = execute(state, dry)
    if memo:
        for host in state.inventory:
            if host.name in connected and host.name not in record.errors:
                used = list(cache.used.get(host.name, {}))
                memo.save(host.name, applied[host.name], used + fact_merge.companions(state, host, used), host in idle)
    record.facts = {name: dict(counts) for name, counts in cache.counts.items()}
    seconds = round(time.monotonic() - started, 2)
    try:
        disconnect_all(state)
    except Exception:
        log.debug("disconnect failed", exc_info=True)
    results: dict[str, Result] = {}
    for host in state.inventory:
        if host.name in record.hosts:
            result = host_result(state, host, record, host in idle, dry, seconds)
            emit(out, {"event": "done", "host": result.target, "status": "failed" if result.failed else "ok"})
            results[result.target] = result
    return results
