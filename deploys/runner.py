"""Run the deploys on inventory hosts through the pyinfra API, with progress and typed results.

``run_deploy`` starts a child Python process that runs pyinfra (pyinfra needs gevent's
monkey-patching for parallel SSH, which must not leak into the caller's process) and reads
one JSON event per line from it:

    {"event": "plan",     "host": h, "ops": n}                   # operations prepared for h
    {"event": "op",       "host": h, "op": name, "status": s}    # s: changed | ok | failed
    {"event": "result",   "results": {...RunResult.to_dict()...}}

Stages (``STAGES``): the foundation services first, each on its own hosts with base and that role
alone (the mirror, then the time servers), then the db hosts, then every other host gets
everything. A host that cannot be reached, or whose operation fails, is reported failed; the
other hosts go on to the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from egov.connection import require_lab_up
from egov.errors import DeployError
from egov.results import Result, RunResult
from egov.secrets import redact

if TYPE_CHECKING:
    from inventory import Inventory

log = logging.getLogger(__name__)

# Stages, in order, as (role whose hosts run, only these roles of theirs; None: all): base and the
# mirror on the mirror hosts (every other host's apt goes through it); base and the time servers
# on the ntp hosts (a client configured before they answer backs off for minutes); the db hosts
# (the backup and the apps need their databases and roles to exist); then every other host.
STAGES: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("mirror", ("base", "mirror")), ("ntp", ("base", "ntp")), ("db", None), ("", None))
# The roles whose hosts must be redeployed when a site is added, to take it in.
REGISTRARS = ("monitoring", "backup")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


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
    from egov.secrets import Secrets

    Secrets(secrets)  # refuse an unsafe secrets file here, before any host is touched
    argv = [sys.executable, "-m", "deploys.runner", "--inventory", str(inv.path)]
    for host in hosts:
        argv += ["--host", host.name]
    if dry:
        argv.append("--dry")
    if diff:
        argv.append("--diff")
    if secrets:
        argv += ["--secrets", str(secrets)]
    started = time.monotonic()
    final: dict[str, Any] | None = None
    # pyinfra's log goes to a file: a pipe read only at the end would fill and stall the child
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log_file:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log_file, text=True,
                                cwd=Path(__file__).resolve().parent.parent)
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a library printing to stdout; the events are JSON lines only
            if event.get("event") == "result":
                final = event["results"]
            elif on_progress is not None:
                on_progress(Progress(host=event["host"], kind=event["event"], op=event.get("op", ""),
                                     status=event.get("status", ""), total=event.get("ops", 0)))
        proc.wait()
        log_file.seek(0)
        stderr = log_file.read()
    if final is None:
        tail = redact("\n".join(stderr.strip().splitlines()[-15:]))
        raise DeployError(f"the pyinfra run ended without a result (exit {proc.returncode}):\n{tail}")
    log.debug("pyinfra run took %.1fs; its log:\n%s", time.monotonic() - started, redact(stderr))
    return RunResult((name, Result(**final[name])) for name in (h.name for h in hosts) if name in final)


# --- egov node up --------------------------------------------------------------------------------


@dataclass
class Step:
    """One step of ``node up``: ``status`` is ``ok``, ``failed`` or ``skipped`` (with the reason)."""

    name: str
    status: str
    detail: str = ""


@dataclass
class NodeReport:
    """What ``node up SITE`` did, step by step, and its one verdict."""

    site: str
    steps: list[Step]

    @property
    def ready(self) -> bool:
        return all(s.status != "failed" for s in self.steps)

    @property
    def verdict(self) -> str:
        failed = [s.name for s in self.steps if s.status == "failed"]
        return "READY: provisioned, routed, registered (monitoring, backups) and verified" if not failed else f"NOT READY: {', '.join(failed)} failed"

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "ready": self.ready, "verdict": self.verdict,
                "steps": [{"name": s.name, "status": s.status, "detail": s.detail} for s in self.steps]}


def _summary(result: RunResult) -> tuple[str, str]:
    if result.failed:
        return "failed", "; ".join(f"{n}: {r.error}" for n, r in result.items() if r.failed)
    return "ok", f"{len(result)} targets"


def node_up(inv: Inventory, site: str, secrets: str | Path | None = None,
            on_progress: Callable[[Progress], None] | None = None) -> NodeReport:
    """Bring SITE into service: deploy its hosts, push its routers' configuration, redeploy the
    hosts that register it (``REGISTRARS``: monitoring, backup), then verify the site's hosts.

    A step that fails is reported and the later steps still run (their results say how far the
    site got); a step whose package or targets do not exist is ``skipped`` with the reason.
    """
    if site not in inv.sites:
        raise DeployError(f"{inv.path}: no site named '{site}' (sites: {', '.join(inv.sites)})")
    hosts, routers = inv.select([site])
    steps: list[Step] = []
    if hosts:
        steps.append(Step("deploy", *_summary(run_deploy(inv, [site], secrets=secrets, on_progress=on_progress))))
    else:
        steps.append(Step("deploy", "skipped", "the site has no hosts"))
    if routers:
        from network.push import Options, push

        steps.append(Step("network", *_summary(push(inv, routers, Options.for_inventory(inv, secrets)))))
    else:
        steps.append(Step("network", "skipped", "the site has no routers"))
    # the monitoring hosts take their targets, the backup hosts their sources, from the inventory
    registrars = [role for role in REGISTRARS if inv.hosts_with_role(role)]
    if registrars:
        steps.append(Step("register", *_summary(run_deploy(inv, registrars, secrets=secrets,
                                                           on_progress=on_progress))))
    else:
        steps.append(Step("register", "skipped", f"no host has a role of {', '.join(REGISTRARS)}"))
    if hosts:
        from verify import run as verify_run

        steps.append(Step("verify", *_summary(verify_run(inv, [site]))))
    else:
        steps.append(Step("verify", "skipped", "the site has no hosts"))
    return NodeReport(site, steps)


# --- the child process: pyinfra itself ---------------------------------------------------------


def _emit(out: IO[str], event: dict[str, Any]) -> None:
    out.write(json.dumps(event) + "\n")
    out.flush()


class _RedactingFilter(logging.Filter):
    """Blank secret values out of pyinfra's own log lines (diffs of files holding passwords)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True


class _Capture(logging.Handler):
    """Collects pyinfra's INFO lines (the diffs with ``--diff``) for the host being prepared."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(ANSI.sub("", record.getMessage()))


def _stages(names: list[str], groups: dict[str, Any]) -> list[tuple[list[str], tuple[str, ...] | None]]:
    """``(hosts, only roles)`` per stage of ``STAGES`` that has hosts; the last holds every host that
    has not yet had all of its roles."""

    def with_role(role: str) -> list[str]:
        members = {ssh_name for ssh_name, _ in groups.get(f"role_{role}", ([], {}))[0]}
        return [n for n in names if n in members]

    stages: list[tuple[list[str], tuple[str, ...] | None]] = []
    complete: set[str] = set()
    for role, only in STAGES:
        hosts = [n for n in (with_role(role) if role else names) if n not in complete]
        if hosts:
            stages.append((hosts, only))
        if only is None:
            complete.update(hosts)
    return stages


@contextmanager
def _recording_op_names(op_names: dict[str, dict[str, str]]) -> Iterator[None]:
    """Record each host's own name for each of its operations while deploys are prepared.

    In API mode pyinfra shares one operation hash among all hosts at the same position and
    merges their names, so the progress display would show other hosts' operations; the names
    are taken where pyinfra pairs them with a host (``solve_operation_consistency``).
    """
    import importlib

    op_module = importlib.import_module("pyinfra.api.operation")  # the module, not the decorator
    original = getattr(op_module, "solve_operation_consistency")  # noqa: B009

    def recording(names: set[str], state: Any, host: Any) -> Any:
        op_order, op_hash = original(names, state, host)
        op_names.setdefault(host.name, {})[op_hash] = ", ".join(sorted(names))
        return op_order, op_hash

    setattr(op_module, "solve_operation_consistency", recording)  # noqa: B010 - a module of pyinfra's
    try:
        yield
    finally:
        setattr(op_module, "solve_operation_consistency", original)  # noqa: B010


def _run_stage(groups: dict[str, Any], stage: list[str], only: tuple[str, ...] | None, dry: bool, diff: bool,
               out: IO[str]) -> dict[str, Result]:
    """Run one pyinfra State over the whole inventory, limited to the ``stage`` hosts (and roles)."""
    import gevent
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all, disconnect_all
    from pyinfra.api.deploy import add_deploy
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.operations import run_ops
    from pyinfra.api.state import BaseStateCallback
    from pyinfra.context import ctx_config, ctx_inventory, ctx_state

    from deploys.site import apply_host

    all_hosts: list[Any] = []
    seen: set[str] = set()
    for members, _data in groups.values():
        for ssh_name, host_data in members:
            if ssh_name not in seen:
                seen.add(ssh_name)
                all_hosts.append((ssh_name, host_data))
    inventory = Inventory((all_hosts, {}), **groups)
    config = Config(CONNECT_TIMEOUT=10, DIFF=diff, FAIL_PERCENT=None, PARALLEL=20)
    state = State(check_for_changes=True)
    state.init(inventory, config, initial_limit=[inventory.get_host(n) for n in stage])

    errors: dict[str, str] = {}
    diffs: dict[str, str] = {}
    op_names: dict[str, dict[str, str]] = {n: {} for n in stage}
    results: dict[str, Result] = {n: Result(target=n) for n in stage}

    def name_of(host: Any) -> str:
        return str(host.data.get("egov_name") or host.name)

    class Callbacks(BaseStateCallback):
        @staticmethod
        def host_connect_error(state: State, host: Any, error: Any) -> None:
            errors[host.name] = f"cannot connect: {error}"

        @staticmethod
        def operation_host_error(state: State, host: Any, op_hash: str, *args: Any) -> None:
            errors.setdefault(host.name, f"operation failed: {op_names[host.name].get(op_hash, op_hash)}")

        @staticmethod
        def operation_end(state: State, op_hash: str) -> None:
            for host in state.inventory:
                if host.name not in op_names or op_hash not in state.ops[host]:
                    continue
                meta = state.ops[host][op_hash].operation_meta
                if not meta.is_complete():
                    continue
                status = "changed" if meta.did_change() else "ok" if meta.did_succeed() else "failed"
                _emit(out, {"event": "op", "host": name_of(host), "op": op_names[host.name][op_hash],
                            "status": status})

    state.add_callback_handler(Callbacks())
    started = time.monotonic()
    try:
        connect_all(state)
    except PyinfraError:
        pass  # "No hosts remaining!": every host of the stage is down; reported below
    captures: dict[str, _Capture] = {}

    def prepare(host: Any) -> None:
        try:
            with ctx_config.use(state.config.copy()):
                add_deploy(state, apply_host, host=host, only=only)
        except Exception as exc:  # noqa: BLE001 - one host's bad data never stops the others
            errors[host.name] = redact(f"preparing the deploy: {exc}")

    active = list(state.inventory.get_active_hosts())
    # the state is process-wide in pyinfra (only host and config are per greenlet), as in its CLI
    ctx_state.set(state)
    ctx_inventory.set(state.inventory)
    with _recording_op_names(op_names):
        if diff:
            # pyinfra logs the diffs while preparing; one host at a time keeps each host's own
            pyinfra_logger = logging.getLogger("pyinfra")
            for host in active:
                captures[host.name] = _Capture()
                pyinfra_logger.addHandler(captures[host.name])
                try:
                    prepare(host)
                finally:
                    pyinfra_logger.removeHandler(captures[host.name])
        else:  # facts are SSH round trips: prepare every host at once
            gevent.joinall([gevent.spawn(prepare, host) for host in active])
    for host in active:
        diffs[host.name] = redact("\n".join(captures[host.name].lines)) if host.name in captures else ""
        if host.name in errors:
            try:
                state.fail_hosts({host})
            except PyinfraError:
                pass  # every host failed to prepare; each error is recorded
        _emit(out, {"event": "plan", "host": name_of(host), "ops": len(host.op_hash_order)})

    # A host on which no prepared operation would change anything has nothing to execute: it sits
    # out the execution (it is not failed), which makes a no-op re-run cost the fact gathering only.
    idle = {h for h in state.inventory.get_active_hosts()
            if not any(d.operation_meta._maybe_is_change for d in state.ops[h].values())}
    state.active_hosts -= idle
    if not dry and state.inventory.get_active_hosts():
        try:
            run_ops(state)
        except PyinfraError:
            pass  # every host failed; each one's error is recorded
    seconds = round(time.monotonic() - started, 2)
    try:
        disconnect_all(state)
    except Exception:
        log.debug("disconnect failed", exc_info=True)

    for host in state.inventory:
        if host.name not in results:
            continue
        metas = [(h, state.ops[host][h].operation_meta) for h in host.op_hash_order if h in state.ops[host]]
        if dry:
            # a dependent op (``_if``) only runs when its parent changes; count the parent alone
            changed_ops = [op_names[host.name].get(h, h) for h, m in metas
                           if m._maybe_is_change and not state.ops[host][h].global_arguments.get("_if")]
            failed_op = ""
        elif host in idle:
            changed_ops, failed_op = [], ""
        else:
            changed_ops = [op_names[host.name].get(h, h) for h, m in metas if m.is_complete() and m.did_change()]
            failed = [h for h, m in metas if m.is_complete() and m.did_error()]
            failed_op = op_names[host.name].get(failed[0], "") if failed else ""
            if failed:
                stderr = "; ".join(state.ops[host][failed[0]].operation_meta.stderr_lines[-3:])
                errors[host.name] = redact(f"operation failed: {failed_op}" + (f": {stderr}" if stderr else ""))
        changes = len(changed_ops)
        error = errors.get(host.name, "")
        r = results[host.name]
        r.target = name_of(host)
        r.failed = bool(error) or host in state.failed_hosts
        r.error = error or ("failed" if r.failed else "")
        r.changed = changes > 0
        r.diff = diffs.get(host.name, "")
        r.data = {"changes": changes, "changed_ops": changed_ops, "ops": len(metas), "failed_op": failed_op, "seconds": seconds, "dry": dry}
        _emit(out, {"event": "done", "host": r.target, "status": "failed" if r.failed else "ok"})
    return {r.target: r for r in results.values()}


def _child(argv: list[str]) -> int:
    from gevent import monkey

    monkey.patch_all()
    parser = argparse.ArgumentParser(prog="python -m deploys.runner")
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--host", action="append", default=[])
    parser.add_argument("--dry", action="store_true")
    parser.add_argument("--diff", action="store_true")
    parser.add_argument("--secrets")
    args = parser.parse_args(argv)
    out = sys.stdout
    sys.stdout = sys.stderr  # anything pyinfra prints goes to the log, never into the events
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RedactingFilter())

    from deploys.context import DeployContext, set_context
    from egov.secrets import Secrets
    from inventory import load_inventory
    from inventory.pyinfra_bridge import pyinfra_groups

    inv = load_inventory(args.inventory)
    set_context(DeployContext.of(inv, Secrets(args.secrets)))
    groups = pyinfra_groups(inv)
    names = [ssh_name for ssh_name, data in _members(groups) if data.get("egov_name", ssh_name) in args.host]
    results: dict[str, Result] = {}
    for stage, only in _stages(names, groups):
        for name, result in _run_stage(groups, stage, only, args.dry, args.diff, out).items():
            results[name] = _merge(results.get(name), result)
    _emit(out, {"event": "result", "results": {name: r.to_dict() for name, r in results.items()}})
    return 0


def _merge(first: Result | None, second: Result) -> Result:
    """One host's result over its stages: changes add up; a failure in an earlier stage stays."""
    if first is None:
        return second
    changes = first.data["changes"] + second.data["changes"]
    failed = first.failed or second.failed
    return Result(target=second.target, changed=changes > 0, failed=failed,
                  diff="\n".join(d for d in (first.diff, second.diff) if d),
                  error=first.error or second.error,
                  data={**second.data, "changes": changes,
                        "changed_ops": first.data["changed_ops"] + second.data["changed_ops"], "seconds": first.data["seconds"] + second.data["seconds"],
                        "failed_op": first.data["failed_op"] or second.data["failed_op"]})


def _members(groups: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    seen: dict[str, dict[str, Any]] = {}
    for members, _ in groups.values():
        for ssh_name, data in members:
            seen.setdefault(ssh_name, data)
    return list(seen.items())


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
