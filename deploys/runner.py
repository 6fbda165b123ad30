"""Run the deploys on inventory hosts through the pyinfra API, with progress and typed results.

``run_deploy`` plans the run as a graph of steps (``deploys/graph.py``: a host waits only for what
its roles need) and starts each batch of steps whose needs are met as a child Python process,
``python -m deploys.pyinfra_process`` (pyinfra needs gevent's monkey-patching for parallel SSH,
which must not leak into the caller's process), several at once. Each child writes one JSON event
per line:

    {"event": "plan",   "host": h, "ops": n}                   # operations prepared for h
    {"event": "op",     "host": h, "op": name, "status": s}    # s: changed | ok | failed
    {"event": "done",   "host": h, "status": s}                # s: failed | ok (one per step)
    {"event": "result", "results": {...RunResult.to_dict()...}}

Around the children the runner holds one SSH session per host (``deploys/sessions.py``): the
host's deploy lock for the whole run, and the health checks of a rolling deploy
(``deploys/health.py``) after each member of a redundant group, before the next one starts.

A re-run of a platform in service first probes: dry children (one per core) over every selected
host with all its roles. A host on which nothing would change is done then (its steps need not
wait for each other, nor for the rolling order: it changes nothing); a member of a rolling group
among them stands on the health it answered before the run. The hosts with something to change
go through the graph as planned. A no-op re-run so costs one preparation of every host at once.

Before any host is touched: the secrets every selected role reads are there (``deploys/secret_needs.py``:
else a SecretsError, exit 2), and every host's lock is taken (another run's: refused, naming it).
SIGINT/SIGTERM: no new step starts, the running ones stop after their running operation, and the
hosts left mid-way or not started are reported. A host that cannot be reached, or whose operation
fails, is reported failed; the hosts that do not need it go on to the end.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets as pysecrets
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from deploys import graph, health, secret_needs
from deploys.sessions import HostSession, LockHeld, holder
from egov.connection import connection_for, require_lab_up
from egov.errors import DeployError
from egov.results import Result, RunResult
from egov.secrets import Secrets, redact
from inventory.applications import APPS
from inventory.services import roles_of, vip

if TYPE_CHECKING:
    from inventory import Host, Inventory

log = logging.getLogger(__name__)

CHILD = "deploys.pyinfra_process"
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Progress:
    """One step of a deploy, for a progress display.

    + host: inventory host name
    + kind: ``plan`` (``total`` operations prepared), ``op`` (one operation finished), ``done``
      (a step ended) or ``health`` (a rolling deploy's check after a step: ``op`` says what)
    + op: the operation's name (``health``: the check's role, or what failed)
    + status: ``changed``, ``ok``, ``failed`` (for ``op``); ``failed`` or ``ok`` for ``done`` and ``health``
    + total: number of operations prepared for the host (``plan``)
    """

    host: str
    kind: str
    op: str = ""
    status: str = ""
    total: int = 0


@dataclass(frozen=True)
class Rolling:
    """``--serial`` (hosts of a redundant group changed at once) and ``--max-fail`` (the share of a
    group's hosts that may fail before the rest of it is not started)."""

    serial: int = 1
    max_fail_percent: int = 0


def selected_hosts(inv: Inventory, limits: Iterable[str]) -> list[Host]:
    hosts, _routers = inv.select(list(limits))
    if not hosts:
        raise DeployError(f"--limit {' '.join(limits)}: no host of {inv.path} matches")
    return hosts


def plan_deploy(inv: Inventory, limits: Iterable[str] = (), rolling: Rolling = Rolling()) -> graph.Plan:
    """The steps a deploy of ``limits`` would run and what each waits for (``egov deploy --plan``);
    contacts no host, so every redundant group is shown rolled."""
    hosts = selected_hosts(inv, limits)
    return graph.plan([(h.name, h.name, h.roles) for h in hosts], rolling.serial, rolling.max_fail_percent)


def run_deploy(
    inv: Inventory,
    limits: Iterable[str] = (),
    dry: bool = False,
    diff: bool = False,
    secrets: str | Path | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    rolling: Rolling = Rolling(),
) -> RunResult:
    """Deploy base and its roles on every selected host of ``inv``.

    + inv: the loaded inventory (its file is re-read by the pyinfra processes)
    + limits: ``--limit`` values (site, level, role, host names); none means every host
    + dry: prepare only (pyinfra dry run): report what would change, change nothing (no lock taken)
    + diff: put the file diffs (redacted) in each host's ``Result.diff``
    + secrets: a 0600 secrets file (else ``$EGOV_SECRETS_FILE`` and ``EGOV_SECRET_*``)
    + on_progress: called for every ``Progress`` event, in the caller's thread
    + rolling: how redundant groups are rolled (``Rolling``)

    Returns one Result per selected host: ``data["changes"]`` (operations that changed or would
    change something), ``data["ops"]``, ``data["failed_op"]`` and ``data["seconds"]``.
    """
    require_lab_up(inv)
    hosts = selected_hosts(inv, limits)
    # refuse an unsafe secrets file, or a missing secret, here: before any host is touched
    secret_needs.check(inv, hosts, Secrets(secrets))
    graph.plan([(h.name, h.name, h.roles) for h in hosts], rolling.serial, rolling.max_fail_percent)  # bad options
    run = _Run(inv, hosts, dry, diff, secrets, on_progress, rolling)
    with run.sessions(), _stop_on_signals(run.stop):
        return run.execute()


@contextmanager
def _stop_on_signals(stop: Callable[[int], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``stop`` while the run lasts (in the main thread only: elsewhere
    Python cannot install handlers, and the caller handles its own signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, lambda signum, _frame: stop(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@dataclass
class _Child:
    proc: subprocess.Popen[str]
    steps: list[graph.Step]
    log_file: IO[str]
    results: dict[str, Any] | None = None
    probe: bool = False  # the first, dry child of a re-run (``_Run.probe``)


@dataclass
class _Run:
    """One run: its plan, its host sessions, the children running, and each step's state."""

    inv: Inventory
    hosts: list[Host]
    dry: bool
    diff: bool
    secrets: str | Path | None
    on_progress: Callable[[Progress], None] | None
    rolling: Rolling
    run_id: str = field(default_factory=lambda: pysecrets.token_hex(6))
    open_sessions: dict[str, HostSession] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)  # step id -> pending|running|checking|ok|failed|skipped
    results: dict[str, Result] = field(default_factory=dict)
    events: queue.Queue[tuple[str, Any, Any]] = field(default_factory=queue.Queue)
    children: dict[int, _Child] = field(default_factory=dict)
    stopping: str = ""
    probing: int = 0  # probe children running
    health_before: dict[str, tuple[bool, str]] = field(default_factory=dict)  # host -> before the run
    plan: graph.Plan = field(init=False)

    # ---- sessions: locks and health -------------------------------------------------------------
    @contextmanager
    def sessions(self) -> Iterator[None]:
        """Open a session to every host and take its lock (not for a dry run, which changes nothing
        and rolls nothing); a host that does not answer is left to pyinfra to report."""
        if self.dry:
            yield
            return
        conn = connection_for(self.inv.path, self.inv.environment)
        who = holder(self.run_id)

        def open_one(host: Host) -> tuple[str, HostSession | None, Exception | None]:
            try:
                session = HostSession(host.name, str(host.mgmt_ip), conn)
            except Exception as exc:  # noqa: BLE001 - an unreachable host is pyinfra's to report
                log.debug("%s: no session: %s", host.name, exc)
                return host.name, None, None
            try:
                session.lock(who)
            except DeployError as exc:
                session.close()
                return host.name, None, exc
            return host.name, session, None

        try:
            with ThreadPoolExecutor(max_workers=16) as pool:
                opened = list(pool.map(open_one, self.hosts))
            self.open_sessions.update({name: s for name, s, _ in opened if s is not None})
            refused = [exc for _, _, exc in opened if exc is not None]
            if refused:
                held = [str(e) for e in refused if isinstance(e, LockHeld)]
                raise LockHeld("\n".join(held)) if len(held) == len(refused) else refused[0]
            yield
        finally:
            for session in self.open_sessions.values():
                session.close()

    def healthy(self, host: str, roles: list[str]) -> tuple[bool, str]:
        """Whether ``host`` passes the health checks of ``roles``; what failed."""
        session = self.open_sessions.get(host)
        if session is None:
            return False, "no SSH session to check its health"
        for role, command in health.commands(roles, vip(self.inv)):
            answer = session.run(command)
            if answer.rc != 0:
                return False, f"{role} unhealthy: {redact(answer.output.splitlines()[-1] if answer.output else '')}"\
                              f" (exit {answer.rc})"
        return True, ""

    def in_service(self) -> dict[str, bool]:
        """Per rolling group: does a member already answer healthy? (None in service: a first deploy.)
        Each member's answer is kept in ``health_before``."""
        roles = {h.name: roles_of(h.roles) for h in self.hosts}
        groups = graph.rolling_groups(roles)
        if self.dry:
            return dict.fromkeys(groups, False)
        members = [m for group in groups.values() for m in group]
        with ThreadPoolExecutor(max_workers=8) as pool:
            self.health_before = dict(zip(members, pool.map(
                lambda name: self.healthy(name, [r for r in roles[name] if r in graph.ROLLING]), members), strict=True))
        return {name: any(self.health_before[m][0] for m in group) for name, group in groups.items()}

    # ---- scheduling -----------------------------------------------------------------------------
    def stop(self, signum: int) -> None:
        """Start no new step; the running children stop after their running operation."""
        self.stopping = signal.Signals(signum).name
        for child in self.children.values():
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGINT)

    def execute(self) -> RunResult:
        in_service = self.in_service()
        self.plan = graph.plan([(h.name, h.name, h.roles) for h in self.hosts], self.rolling.serial,
                               self.rolling.max_fail_percent, in_service)
        self.status = dict.fromkeys(self.plan.steps, "pending")
        if any(in_service.values()) and len(self.plan.waves()) > 1:
            self.probe()
        else:
            self.launch_ready()
        while self.children or any(s in ("running", "checking") for s in self.status.values()):
            kind, key, value = self.events.get()
            if kind == "event":
                self.on_event(key, value)
            elif kind == "exit":
                self.on_exit(key, value)
            elif kind == "health":
                self.on_health(key, value)
            self.launch_ready()
        for step_id, state in self.status.items():
            if state == "pending":  # waits for a step that failed, or the run was stopped
                self.skip(self.plan.steps[step_id], "not started: the run was interrupted "
                          f"({self.stopping})" if self.stopping else "not started")
        return RunResult((h.name, self.results[h.name]) for h in self.hosts if h.name in self.results)

    def probe(self) -> None:
        """Start the dry children over every host, all its roles (``on_probed`` reads them), one
        per core: a preparation is one Python thread, the hosts' answers are the hosts' CPU.
        Nothing else starts meanwhile. Only for a platform in service: a first deploy changes
        every host."""
        firsts: dict[str, graph.Step] = {}
        for step in self.plan.steps.values():
            firsts.setdefault(step.host, step)
        # the hosts with the most roles (the most operations) first, each to the lightest share
        shares: list[list[graph.Step]] = [[] for _ in range(min(os.cpu_count() or 1, len(firsts)))]
        # an application is a few operations of one shared deploy: the apps of a host weigh one role
        weight = {name: len({"app" if r in APPS else r for r in roles}) for name, roles in self.plan.host_roles.items()}
        for step in sorted(firsts.values(), key=lambda s: -weight[s.host]):
            min(shares, key=lambda share: sum(weight[s.host] for s in share)).append(step)
        self.probing = len(shares)
        for share in shares:
            self.start_child(None, share, probe=True)

    def on_probed(self, child: _Child, stderr: str) -> None:
        """A host the probe found with nothing to change is done; the others start as planned
        once every probe has answered."""
        self.probing -= 1
        for step in child.steps:
            fields = (child.results or {}).get(step.host)
            if fields is None or fields["failed"] or fields["data"]["changes"]:
                continue  # something to change, or to report as its step will: the graph runs it
            mine = [s for s in self.plan.steps.values() if s.host == step.host]
            ok, detail = self.health_before.get(step.host, (True, ""))
            self.results[step.host] = Result(**{**fields, "data": {**fields["data"], "dry": False}})
            for own in mine:
                self.status[own.id] = "ok" if ok else "failed"
            if mine[0].group:  # a rolling member changes nothing: the health it answered before stands
                self.progress(Progress(host=step.host, kind="health", op=detail or mine[0].group,
                                       status="ok" if ok else "failed"))
            if not ok:
                self.results[step.host] = Result(target=step.host, failed=True, error=f"before the run: {detail}",
                                                 data=self.results[step.host].data)
            self.progress(Progress(host=step.host, kind="done", status="ok" if ok else "failed"))
        log.debug("the probe's log:\n%s", redact(stderr))

    def launch_ready(self) -> None:
        if self.probing:
            return
        # one child per kind of host: a child's hosts run in step (pyinfra runs each operation on all
        # of them) and end together; the db pair batched with the district nodes (both "all their
        # roles") ended with the nodes, and the application hosts started 908 s into the lab's first deploy
        batches: dict[tuple[tuple[str, ...] | None, tuple[str, ...]], list[graph.Step]] = {}
        roles = {h.name: tuple(h.roles) for h in self.hosts}
        for step_id, state in self.status.items():
            if state != "pending" or self.stopping:
                continue
            step = self.plan.steps[step_id]
            verdict = self.readiness(step)
            if verdict is None:
                batches.setdefault((step.only, roles[step.host]), []).append(step)
            elif verdict:
                self.skip(step, verdict)
        for (only, _), steps in batches.items():
            self.start_child(only, steps)

    def readiness(self, step: graph.Step) -> str | None:
        """None when ``step`` can start; "" while it must wait; else why it never will."""
        for need, why in step.needs:
            if self.status[need] in ("failed", "skipped") and need in step.ended:
                continue
            if self.status[need] in ("failed", "skipped"):
                return f"not started: it needs {need} ({why}), which " \
                       f"{'failed' if self.status[need] == 'failed' else 'did not run'}"
            if self.status[need] != "ok":
                return ""
        if any(self.status[a] in ("pending", "running", "checking") for a in step.after):
            return ""
        members = self.plan.groups.get(step.group, [])
        failed = sorted({self.plan.steps[s].host for s, st in self.status.items()
                         if st in ("failed", "skipped") and self.plan.steps[s].host in members})
        if step.after and failed and len(failed) * 100 > self.rolling.max_fail_percent * len(members):
            return f"not started: rolling group {step.group} stopped after {', '.join(failed)} failed " \
                   f"(--max-fail {self.rolling.max_fail_percent}%)"
        return None

    def start_child(self, only: tuple[str, ...] | None, steps: list[graph.Step], probe: bool = False) -> None:
        argv = [sys.executable, "-m", CHILD, "--inventory", str(self.inv.path), "--run-id", self.run_id]
        for step in steps:
            argv += ["--host", step.host]
        if only:
            argv += ["--only", ",".join(only)]
        if self.dry or probe:
            argv.append("--dry")
        if self.diff and not probe:  # a host with nothing to change has no diff
            argv.append("--diff")
        if self.secrets:
            argv += ["--secrets", str(self.secrets)]
        # pyinfra's log goes to a file: a pipe read only at the end would fill and stall the child
        log_file = tempfile.TemporaryFile("w+", encoding="utf-8")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log_file, text=True, cwd=REPO)
        self.children[proc.pid] = _Child(proc, steps, log_file, probe=probe)
        for step in steps:
            if not probe:  # a probed host's steps stay pending until its verdict (``on_probed``)
                self.status[step.id] = "running"
        threading.Thread(target=self.read_child, args=(proc,), daemon=True).start()

    def read_child(self, proc: subprocess.Popen[str]) -> None:
        """In a thread: each JSON line of the child, then its exit, onto the events queue."""
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a library printing to stdout; the events are JSON lines only
            self.events.put(("event", proc.pid, event))
        self.events.put(("exit", proc.pid, proc.wait()))

    def progress(self, event: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(event)

    def on_event(self, pid: int, event: dict[str, Any]) -> None:
        if event.get("event") == "result":
            self.children[pid].results = event["results"]
        elif self.children[pid].probe and event.get("event") == "done":
            pass  # the probe's verdict on a host comes with its result (``on_probed``)
        else:
            self.progress(Progress(host=event["host"], kind=event["event"], op=event.get("op", ""),
                                   status=event.get("status", ""), total=event.get("ops", 0)))

    def on_exit(self, pid: int, returncode: int) -> None:
        child = self.children.pop(pid)
        child.log_file.seek(0)
        stderr = child.log_file.read()
        child.log_file.close()
        if child.probe:
            self.on_probed(child, stderr)
            return
        log.debug("pyinfra run of %s ended (exit %s); its log:\n%s", [s.id for s in child.steps], returncode,
                  redact(stderr))
        for step in child.steps:
            fields = (child.results or {}).get(step.host)
            if fields is None:
                tail = redact("\n".join(stderr.strip().splitlines()[-15:]))
                result = Result(target=step.host, failed=True,
                                error=f"the pyinfra run ended without a result (exit {returncode}): {tail}",
                                data=_no_ops())
            else:
                result = Result(**fields)
            self.results[step.host] = graph.merge_results(self.results.get(step.host), result)
            if result.failed:
                self.status[step.id] = "failed"
            elif self.rolled(step):
                self.status[step.id] = "checking"
                roles = [r for r in step.roles(self.plan.host_roles[step.host]) if r in graph.ROLLING]
                threading.Thread(target=lambda s=step, r=roles: self.events.put(
                    ("health", s.id, self.healthy(s.host, r))), daemon=True).start()
            else:
                self.status[step.id] = "ok"

    def rolled(self, step: graph.Step) -> bool:
        """Whether ``step``'s group is being rolled (it was in service): its steps are chained."""
        return bool(step.group) and any(s.after for s in self.plan.steps.values() if s.group == step.group)

    def on_health(self, step_id: str, verdict: tuple[bool, str]) -> None:
        ok, detail = verdict
        step = self.plan.steps[step_id]
        self.status[step_id] = "ok" if ok else "failed"
        self.progress(Progress(host=step.host, kind="health", op=detail or step.group, status="ok" if ok else "failed"))
        if not ok:
            r = self.results[step.host]
            self.results[step.host] = Result(target=r.target, changed=r.changed, failed=True, diff=r.diff,
                                             error=f"after its step {step_id}: {detail}", data=r.data)

    def skip(self, step: graph.Step, why: str) -> None:
        self.status[step.id] = "skipped"
        before = self.results.get(step.host)
        if before is None or not before.failed:
            self.results[step.host] = graph.merge_results(before, Result(target=step.host, failed=True, error=why,
                                                                         data=_no_ops()))
        self.progress(Progress(host=step.host, kind="done", status="failed"))


def _no_ops() -> dict[str, Any]:
    return {"changes": 0, "changed_ops": [], "ops": 0, "failed_op": "", "seconds": 0.0}

