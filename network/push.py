"""Diff, safe push, backup, rollback and check of the routers an inventory describes.

A push runs in three phases, each over the devices in parallel (``egov.parallel.run_parallel``,
one thread per connection, bounded workers), with the sessions kept open between them:

1. prepare: connect, back up the running configuration, compute the remediation within the router's
   managed scope; no lines means "no changes" and the device is left alone (configuration mode is
   never entered); the lock-out guard refuses lines that would cut management off (``assess``,
   which the offline diff ``diff_offline`` shares);
2. apply: arm the device's own revert timer (its dead man's switch: ``Driver.begin``), then send only
   the remediation, stopping at the first line the device refuses;
3. verify: wait until every OSPF neighbour the inventory implies is Full (those that were Full
   before, and those being pushed in this run that did not fail); then confirm (the timer read back
   and cancelled) and save. Nothing is saved before the checks pass.

Any failure in apply or verify (a refused line, a failed check or commit, a read timeout, a lost
session) gets a restore attempt (``_restore``: on the session, else on a new one); one that fails is
reported as such: left to the device's revert timer, which reverts it without us, or, on a platform
without one, needing a console. Each result says how its transaction ended (``data["transaction"]``).

The barrier between apply and verify lets neighbours configured in the same run come up together.
A device that fails or cannot be reached is reported; the others carry on.

Around the phases (the orchestration): the run holds a lock per device for its whole length (another
run's push of the same router is refused, naming the holder); a staged rollout
(``network.rollout.Plan``) runs the three phases batch by batch and stops when a batch fails; a stop
request (``Options.stop``: SIGINT, SIGTERM) starts nothing new, while the devices already changed go
through their post-check to be confirmed or restored. Every device ends in a stated status, among them
``not started`` (nothing was sent to it).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from egov.connection import Connection, connection_for, require_lab_up
from egov.errors import NetworkError, RevertExpired, report_name
from egov.interrupt import Stop
from egov.locks import FileLock, all_locked
from egov.parallel import MAX_WORKERS, run_parallel
from egov.results import Result, RunResult
from egov.secrets import Secrets, redact
from inventory.model import Inventory, Router
from network.archive import Backups, default_root
from network.context import expected_peers, settle_seconds
from network.drivers import driver_class
from network.drivers.base import CONFIRMED, EXPIRED, NEEDS_CONSOLE, Driver, Remediation, left_to_timer
from network.guard import guard
from network.render import render
from network.rollout import Plan
from network.session import connect, mgmt_interface, open_driver, router_scope

NO_CHANGES = "no changes"
NOT_STARTED = "not started"
log = logging.getLogger(__name__)


@dataclass
class Options:
    """How a run reaches and treats the devices."""

    secrets: Secrets
    connection: Connection
    backups: Backups
    # None: one thread per device of the run (egov.parallel), so a phase lasts one device's time, not
    # devices/workers of them: most of a device's time is waiting on its SSH session
    workers: int | None = None
    connect_timeout: float = 10.0
    check_timeout: float = 60.0
    # seconds each device's revert timer waits for the confirmation (None: sized to the run, ``revert_window``)
    revert_window: float | None = None
    # push to a platform without a revert timer (VRP V5) a change that touches its management path
    allow_no_revert: bool = False
    on_done: Callable[[Result], None] | None = None
    stop: Stop = field(default_factory=Stop)
    # device -> the phase it last started, until it has its result: what a second Ctrl-C leaves unfinished
    in_flight: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_inventory(cls, inv: Inventory, secrets_path: str | Path | None = None, backup_dir: Path | None = None,
                      **kwargs: object) -> Options:
        require_lab_up(inv)
        connection = connection_for(inv.path, inv.environment)
        secrets = Secrets(secrets_path or connection.secrets_file)
        secrets.get("router_password")  # missing: bad input (exit 2) now, not a failure on every router later
        return cls(secrets=secrets, connection=connection, backups=Backups(backup_dir or default_root(inv)),
                   **kwargs)  # type: ignore[arg-type]


@dataclass
class _Device:
    """One device's state across the phases of a push."""

    router: Router
    intended: str
    driver: Driver | None = None
    running: str = ""
    backup: Path | None = None
    lines: list[str] = field(default_factory=list)
    changes: list[tuple[str, ...]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # write-only lines an offline diff could not ask the device about (sent only if absent there)
    write_only: list[str] = field(default_factory=list)
    full_before: set[str] = field(default_factory=set)
    applied_at: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def result(self, status: str, changed: bool = False, failed: bool = False, error: str = "",
               **data: object) -> Result:
        return Result(target=self.router.name, changed=changed, failed=failed, error=error,
                      diff=redact("\n".join(self.lines)),
                      data={"status": status, "seconds": round(time.monotonic() - self.started, 2),
                            "lines": len(self.lines), "backup": str(self.backup) if self.backup else "",
                            "guard": [redact(problem) for problem in self.problems],
                            **({"write_only": [redact(line) for line in self.write_only]} if self.write_only else {}),
                            **data})

    def assess(self, driver: type[Driver], user: str, source: IPv4Address, noc_networks: list[IPv4Network],
               dry_run: bool, restoring: bool = False, absent: Callable[[list[str]], list[str]] | None = None,
               ) -> Result | None:
        """Compute what a push sends to this device and judge it: the one decision the push, the live
        diff and the offline diff share. A Result ends the device's run (no changes, refused, dry run).
        ``absent`` asks the device which write-only lines it lacks; without it (offline) they are listed apart."""
        remediation = assess(driver, self.router, self.running, self.intended, user, source, noc_networks,
                             restoring, absent)
        self.lines, self.changes, self.problems = remediation.lines, remediation.changes, remediation.problems
        if remediation.write_only:
            self.write_only = remediation.write_only
        if not self.lines:
            return self.result(NO_CHANGES)
        if self.problems:
            return self.result("refused", failed=True,
                               error="lock-out guard refused the change: " + "; ".join(self.problems))
        if dry_run:
            return self.result("would change", changed=True)
        return None

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()
            self.driver = None


@dataclass
class Assessment(Remediation):
    """A remediation with the lock-out guard's verdict on it (empty ``problems``: safe to send)."""

    problems: list[str] = field(default_factory=list)


def assess(driver: type[Driver], router: Router, running: str, intended: str, user: str, source: IPv4Address,
           noc_networks: list[IPv4Network], restoring: bool = False,
           absent: Callable[[list[str]], list[str]] | None = None) -> Assessment:
    """The exact lines a push would send to ``router`` running ``running``, within its managed scope
    (widened when ``intended`` is a saved configuration being restored), and every reason the lock-out
    guard has to refuse them (a push from ``source`` logged in as ``user``). The write-only lines (which
    the running configuration never shows) are sent where ``absent``, the device's own report, says it
    lacks them; without ``absent`` (offline: no device to ask) they stay apart in ``write_only``."""
    scope = router_scope(router, driver)
    remediation = driver.remediate(running, intended, scope.widened() if restoring else scope)
    if remediation.write_only and absent is not None:
        remediation.lines += absent(remediation.write_only)
        remediation.write_only = []
    problems = guard(driver, remediation, running, user, source, noc_networks, mgmt_interface(router, driver),
                     router.name)
    problems += [f"'{line}' makes the device ask for a confirmation that has no safe answer (never sent)"
                 for line in driver.unanswerable(remediation.lines)]
    return Assessment(remediation.lines, remediation.changes, remediation.result, remediation.write_only, problems)


def routers_for(inv: Inventory, limits: Iterable[str]) -> list[Router]:
    _, routers = inv.select(limits)
    if not routers:
        raise NetworkError(f"{inv.path}: no router matches --limit {' '.join(limits)}")
    return routers


# a device's apply: the longest a send waits for its lines (the drivers' read timeout); the revert timer's margin
APPLY_SECONDS = 30.0
REVERT_MARGIN = 60.0


def revert_window(opts: Options, settle: float, devices: int) -> float:
    """How long a device's revert timer waits for its confirmation (``opts.revert_window`` unless None): the rest
    of the apply phase after the device armed (its share of the run's devices through the workers), the settle
    before the post-check, the post-check itself, and a margin for the confirmation."""
    if opts.revert_window is not None:
        return opts.revert_window
    workers = min(devices, MAX_WORKERS) if opts.workers is None else opts.workers
    return APPLY_SECONDS * math.ceil(devices / max(1, workers)) + settle + opts.check_timeout + REVERT_MARGIN


def _restore(device: _Device, opts: Options) -> tuple[str, str]:
    """Take a failed change back: on the device's session, else on a new one. Returns the transaction's end
    (``REVERTED`` or ``EXPIRED``; a failed restore: left to the device's revert timer, or needing a console
    where there is none) and the words for the error message."""
    assert device.driver is not None
    armed = device.driver.armed

    def said(how: str, where: str = "") -> tuple[str, str]:
        return how, ("the device's revert timer had put the previous configuration back already" if how == EXPIRED
                     else f"restored {device.backup}{where}")

    try:
        return said(device.driver.abort(device.running))
    except Exception as exc:  # noqa: BLE001 - a restore that fails is reported, never raised over the device's result
        first = exc
    device.close()
    try:
        device.driver = connect(device.router, opts.connection, opts.secrets, opts.connect_timeout)
        device.driver.armed = armed
        return said(device.driver.abort(device.running), " (on a new session)")
    except Exception:  # noqa: BLE001 - as above; the first failure says why
        words = redact(str(first)).strip().splitlines()
        failed = f"restoring {device.backup} FAILED ({report_name(first)}: {words[0] if words else ''})"
    if armed is not None:
        left = armed.left()
        return left_to_timer(left), (f"{failed}; left to the device's revert timer, which puts the previous "
                                      f"configuration back by itself in {left} s")
    return NEEDS_CONSOLE, (f"{failed}; this platform has no revert timer: nothing was saved, so a reload brings "
                           "the saved configuration back, but it needs a console")


def _ended(device: _Device, how: str, error: str) -> Result:
    """A failed device's result, its status saying how its transaction ended (``how``)."""
    status = {EXPIRED: "reverted by device", NEEDS_CONSOLE: "needs a console"}.get(
        how, "left to revert timer" if how.startswith("left to") else "rolled back")
    return device.result(status, failed=True, transaction=how, error=redact(error))


def _failed(device: _Device, phase: str, exc: Exception, opts: Options) -> Result:
    """A device whose apply or verify failed (``exc``): restore attempted, reported by how it ended."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, RevertExpired):  # the device's timer fired first: it has put its configuration back
        how, done = EXPIRED, "nothing to restore"
    else:
        how, done = _restore(device, opts)
    return _ended(device, how, f"{phase}: {report_name(exc)}: {first}; {done}")


def _run_phase(devices: dict[str, _Device], work: Callable[[_Device], Result | None], opts: Options,
               results: RunResult, failing: set[str]) -> None:
    """Run ``work`` on every device still in ``devices``; a device that returns a Result (or raises)
    is finished: its session is closed and it leaves the run. ``failing`` learns each failure at
    once, so that devices still verifying stop waiting for a neighbour that is gone."""
    phase = work.__name__

    def work_on(name: str) -> Result:
        device = devices[name]
        if opts.stop.requested and phase != "finish":  # start nothing new; a device changed is still judged
            device.close()
            opts.in_flight.pop(name, None)
            return device.result(NOT_STARTED, error=f"interrupted ({opts.stop.name}) before {phase}: nothing was sent")
        opts.in_flight[name] = phase
        try:
            done = work(device)
        except Exception as exc:  # noqa: BLE001 - one device's failure is reported, never raised over the others
            failing.add(name)
            device.close()
            unsaved = ("" if phase == "prepare"
                       else "; nothing was saved: the device restarts with its saved configuration")
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            opts.in_flight.pop(name, None)
            return device.result("failed", failed=True, error=redact(f"{phase}: {report_name(exc)}: {first}{unsaved}"))
        if done is not None:
            if done.failed:
                failing.add(name)
            device.close()
            opts.in_flight.pop(name, None)
            return done
        return Result(target=name, data={"continue": True})

    for name, result in run_parallel(work_on, list(devices), workers=opts.workers).items():
        if not result.data.get("continue"):
            results[name] = result
            devices[name].close()
            del devices[name]
            if opts.on_done is not None:
                opts.on_done(result)


def push(inv: Inventory, routers: list[Router], opts: Options, dry_run: bool = False, verify: bool = True,
         intended: dict[str, str] | None = None, reason: str = "before push", plan: Plan | None = None) -> RunResult:
    """Push the intended configuration (rendered from the inventory unless ``intended`` is given: saved
    configurations being restored) to ``routers``, batch by batch as ``plan`` says (default: one batch);
    ``dry_run`` stops after the diff. Returns a Result per router, in order (``data["batch"]``: its batch)."""
    wanted = intended or {router.name: render(inv, router, opts.secrets) for router in routers}
    devices = {router.name: _Device(router, wanted[router.name]) for router in routers}
    results = RunResult()
    failing: set[str] = set()
    # peers that count: every router of this run's batches so far that did not fail, plus whatever was Full before
    healthy: set[str] = set()
    batch_size = len(routers)  # the revert window counts the rounds of workers in the batch being applied

    def prepare(device: _Device) -> Result | None:
        device.driver = connect(device.router, opts.connection, opts.secrets, opts.connect_timeout)
        device.running = device.driver.running()
        if not dry_run:
            device.backup = opts.backups.save(device.router.name, device.running)
        verdict = device.assess(type(device.driver), device.driver.login_user(), device.driver.source_address(),
                                inv.noc_networks, dry_run, restoring=intended is not None,
                                absent=device.driver.absent_write_only)
        if verdict is not None:
            return verdict
        driver = type(device.driver)
        if driver.revert_range is None and not opts.allow_no_revert and not dry_run:
            touched = driver.management_changes(device.changes, mgmt_interface(device.router, driver))
            if touched:
                return device.result("refused", failed=True, error=(
                    f"{driver.platform} has no revert timer (no dead man's switch) and the change touches the "
                    f"management path ({touched[0]}{' ...' if len(touched) > 1 else ''}): a mistake there "
                    "would need a console; pass --allow-no-revert to push it anyway"))
        device.full_before = {rid for rid, state in device.driver.neighbours().items() if state == "full"}
        return None

    def apply(device: _Device) -> Result | None:
        assert device.driver is not None
        window = revert_window(opts, settle_seconds(inv, device.router), batch_size)
        try:
            device.driver.begin(window)  # the dead man's switch, before the first line
        except Exception as exc:  # noqa: BLE001 - nothing was sent: report it, nothing to restore
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return device.result("failed", failed=True,
                                 error=redact(f"apply: {report_name(exc)}: {first}; the change was not sent"))
        try:
            device.driver.apply(device.lines)
        except Exception as exc:  # noqa: BLE001 - any failure (refusal, timeout, lost session) gets a restore attempt
            return _failed(device, "apply", exc, opts)
        device.applied_at = time.monotonic()
        return None

    def finish(device: _Device) -> Result:
        assert device.driver is not None
        peers = expected_peers(inv, device.router)

        def required() -> set[str]:
            return {rid for name, rid in peers.items()
                    if (name in healthy or rid in device.full_before) and name not in failing}

        missing: set[str] = set()
        try:
            if verify:
                missing = _wait_full(device.driver, required, opts.check_timeout)
            if not missing:
                device.driver.confirm()
        except Exception as exc:  # noqa: BLE001 - any failure (timeout, lost session, save, expiry) gets a restore
            return _failed(device, "verify", exc, opts)
        if missing:
            names = ", ".join(sorted(peer for peer, rid in peers.items() if rid in missing))
            how, done = _restore(device, opts)
            return _ended(device, how, f"post-check failed: OSPF neighbours not Full within {opts.check_timeout:g}s: "
                                       f"{names}; {done}")
        return device.result("changed", changed=True, transaction=CONFIRMED, neighbours_full=len(required()))

    def run_batch(batch: dict[str, _Device]) -> None:
        nonlocal batch_size
        started = time.monotonic()
        batch_size = len(batch)
        names = list(batch)
        for device in batch.values():
            device.started = started  # a device's seconds are its own batch's, not the wait for it
        _run_phase(batch, prepare, opts, results, failing)
        if not dry_run:
            opts.backups.record(f"{reason}: {', '.join(names)}")
        log.debug("prepare: %.2f s", time.monotonic() - started)
        _run_phase(batch, apply, opts, results, failing)
        log.debug("apply: %.2f s", time.monotonic() - started)
        if verify and batch:
            # an adjacency the change broke stays Full until a dead interval has passed: judge after that,
            # waiting once for the batch (its last device's deadline), not once per device in the pool
            settled = max(device.applied_at + settle_seconds(inv, device.router) for device in batch.values())
            time.sleep(max(0.0, settled - time.monotonic()))
        healthy.update(batch, (name for name, result in results.items()
                               if not result.failed and result.data["status"] != NOT_STARTED))
        _run_phase(batch, finish, opts, results, failing)
        log.debug("verify: %.2f s", time.monotonic() - started)

    batches = [list(devices)] if plan is None or dry_run else plan.batches
    locks = [] if dry_run else [FileLock(opts.backups.lock_dir / f"{name}.lock", f"router {name}") for name in devices]
    halted = ""
    with all_locked(locks):
        try:
            for index, names in enumerate(batches):
                if opts.stop.requested or halted:
                    why = halted or f"interrupted ({opts.stop.name})"
                    for name in names:
                        devices[name].started = time.monotonic()  # it never ran: no seconds of its own
                        results[name] = devices[name].result(NOT_STARTED, error=f"{why}: nothing was sent")
                else:
                    run_batch({name: devices[name] for name in names})
                    halted = (plan.halts(index, (results[name] for name in names)) or "") if plan else ""
        finally:  # an error of the run itself (the backup repository) leaves no session open
            for device in devices.values():
                device.close()
    for index, names in enumerate(plan.batches if plan else batches):  # a dry run too says where each would go
        for name in names:
            results[name].data["batch"] = index + 1
    return RunResult((router.name, results[router.name]) for router in routers)


def _wait_full(driver: Driver, required: Callable[[], set[str]], timeout: float) -> set[str]:
    """Poll the OSPF neighbours until every required router id is Full; the ones still missing at the end."""
    deadline = time.monotonic() + timeout
    while True:
        states = driver.neighbours()
        missing = {rid for rid in required() if states.get(rid) != "full"}
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(0.5)


def backup(inv: Inventory, routers: list[Router], opts: Options) -> RunResult:
    """Back up the running configuration of every router."""

    def back_up(name: str) -> Result:
        router = inv.routers[name]
        with open_driver(router, opts.connection, opts.secrets, opts.connect_timeout) as driver:
            path = opts.backups.save(name, driver.running())
        return Result(target=name, data={"status": "backed up", "backup": str(path)})

    result = run_parallel(back_up, [router.name for router in routers], workers=opts.workers, on_done=opts.on_done)
    opts.backups.record(f"backup: {', '.join(result)}")
    return result


def rollback(inv: Inventory, router: Router, opts: Options, to: str | None = None) -> RunResult:
    """Put a backup (the newest unless ``to`` names one) back on the device, through the same safe
    push (backup first, lock-out guard, remediation only, save) without the OSPF post-check: going
    back to an older state is the operator's decision, even when it drops adjacencies."""
    chosen = opts.backups.find(router.name, to)
    text = chosen.read_text(encoding="utf-8")
    driver_class(router.platform).check_configuration(text, f"{chosen}: not a {router.platform} configuration")
    result = push(inv, [router], opts, intended={router.name: text},
                  verify=False, reason=f"before rollback to {chosen.name}")
    result[router.name].data["restored_from"] = str(chosen)
    return result


def check(inv: Inventory, routers: list[Router], opts: Options) -> RunResult:
    """The state the inventory implies: every OSPF neighbour Full, a route to every other router's loopback."""
    loopbacks = {name: IPv4Network(f"{router.loopback}/32") for name, router in inv.routers.items()}

    def check_router(name: str) -> Result:
        router = inv.routers[name]
        with open_driver(router, opts.connection, opts.secrets, opts.connect_timeout) as driver:
            states = driver.neighbours()
            missing_routes = driver.missing_routes(loopback for other, loopback in loopbacks.items() if other != name)
        peers = expected_peers(inv, router)
        down = {peer: states.get(rid, "absent") for peer, rid in sorted(peers.items()) if states.get(rid) != "full"}
        problems = [f"neighbour {peer} is {state}" for peer, state in down.items()]
        if missing_routes:
            problems.append("no route to " + ", ".join(str(prefix) for prefix in missing_routes))
        full = len(peers) - len(down)
        routed = len(loopbacks) - 1 - len(missing_routes)
        return Result(target=name, failed=bool(problems), error="; ".join(problems),
                      data={"status": "ok" if not problems else "degraded", "neighbours_full": full,
                            "neighbours_expected": len(peers), "routes_missing": len(missing_routes),
                            "detail": f"{full}/{len(peers)} OSPF neighbours Full, "
                                      f"{routed}/{len(loopbacks) - 1} loopbacks routed"})

    return run_parallel(check_router, [router.name for router in routers], workers=opts.workers, on_done=opts.on_done)


def diff(inv: Inventory, routers: list[Router], opts: Options) -> RunResult:
    """Running versus intended as the exact lines a push would send (nothing is changed or saved)."""
    return push(inv, routers, opts, dry_run=True)


def diff_offline(inv: Inventory, routers: list[Router], running_dir: Path, user: str,
                 source: IPv4Address | None = None) -> RunResult:
    """The exact lines a push would send, with the lock-out guard's verdict, reading each router's
    running configuration from ``running_dir/<router>.cfg`` (a backup, a file from the field) instead
    of the device: no device is contacted. ``user`` is the login the push would use, ``source`` the
    address it would come from (default: the control machine's)."""
    origin = source or inv.plan.control_ip
    if origin is None:
        raise NetworkError(f"{inv.path}: the plan has no control machine address; say where the push comes from")
    results = RunResult()
    for router in routers:
        device = _Device(router, render(inv, router))
        path = running_dir / f"{router.name}.cfg"
        try:
            device.running = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            results[router.name] = device.result("failed", failed=True, error=f"{path}: cannot read: {exc}")
            continue
        try:
            driver = driver_class(router.platform)
            driver.check_configuration(device.running, f"not a {router.platform} configuration")
            verdict = device.assess(driver, user, origin, inv.noc_networks, dry_run=True)
        except NetworkError as exc:
            verdict = device.result("failed", failed=True, error=f"{path}: {exc}")
        assert verdict is not None  # a dry run always ends in a verdict
        verdict.data["running"] = str(path)
        results[router.name] = verdict
    return results
