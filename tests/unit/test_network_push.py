"""The safe push's decisions, on simulated FRR devices (no SSH): no-op, rejected line, post-check
failure, unreachable device, lock-out guard, dry run, backups, rollback and check."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from egov.connection import Connection
from egov.errors import DeviceTimeout, DeviceUnreachable, LineRefused, NetworkError
from egov.secrets import Secrets
from inventory import load_inventory
from network import push as push_mod
from network.archive import Backups
from network.drivers.frr import FrrDriver
from network.push import NO_CHANGES, Options, check, push, rollback
from network.render import render
from tests.support.day0 import FIRST_PUSH_NEGATIONS

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "network"
MGMT_ONLY = (FIXTURES / "running" / "frr" / "day0.cfg").read_text(encoding="utf-8")
PASSWORD = "s3cret-router-pass"


class FakeNet:
    """Simulated routers: running configuration, adjacencies and what each one does wrong."""

    def __init__(self, inv: Any) -> None:
        self.inv = inv
        self.running: dict[str, str] = {name: MGMT_ONLY for name in inv.routers}
        self.unreachable: set[str] = set()
        self.refuse: dict[str, str] = {}        # router -> a line it refuses
        self.stalls: set[str] = set()           # routers that stop answering while lines are sent
        self.sent: dict[str, list[list[str]]] = {name: [] for name in inv.routers}
        self.saved: set[str] = set()
        # each router's dead man's switch: router -> (seconds, the configuration it puts back when it fires)
        self.armed: dict[str, tuple[int, str]] = {}
        self.cuts: set[str] = set()             # routers whose change cuts their management off
        self.dead: set[str] = set()             # routers cut off: the session dies, new ones are refused
        self.pending: dict[str, str] = {name: render(inv, r) for name, r in inv.routers.items()}  # after a push
        self.source = IPv4Address(str(inv.noc_networks[0][5]))

    def configured(self, name: str) -> bool:
        return "router ospf" in self.running[name]

    def adjacent(self, a: str, b: str) -> bool:
        """Up when both ends run OSPF with the same hello interval (as OSPF insists)."""
        def hello(name: str) -> list[str]:
            return re.findall(r"hello-interval (\d+)", self.running[name])[:1]
        return (self.configured(a) and self.configured(b) and not {a, b} & self.unreachable
                and hello(a) == hello(b))

    def fire(self, name: str) -> None:
        """The router's revert timer fires: it puts back what it held when armed."""
        _, snapshot = self.armed.pop(name)
        self.running[name] = snapshot


class FakeDriver(FrrDriver):
    """FrrDriver's text logic (normalise, remediation, guard) on a simulated session."""

    def __init__(self, net: FakeNet, name: str) -> None:
        self.net, self.name = net, name

    def close(self) -> None:
        pass

    def source_address(self) -> IPv4Address:
        return self.net.source

    def login_user(self) -> str:
        return "egov"

    def running(self) -> str:
        return self.net.running[self.name]

    def _alive(self) -> None:
        if self.name in self.net.dead:
            raise DeviceUnreachable("Socket is closed", report_name="OSError")

    def arm(self, seconds: int) -> None:
        self.net.armed[self.name] = (seconds, self.net.running[self.name])

    def pending(self) -> bool:
        self._alive()
        return self.name in self.net.armed

    def disarm(self) -> None:
        self._alive()
        if self.net.armed.pop(self.name, None) is None:
            raise self.expired()

    def apply(self, lines: list[str]) -> None:
        self.net.sent[self.name].append(list(lines))
        if self.name in self.net.cuts:  # the change takes effect, and with it the session is gone
            self.net.running[self.name] = self.net.pending[self.name]
            self.net.dead.add(self.name)
            raise DeviceTimeout("Pattern not detected: 'r1\\(config\\)#' in output.", report_name="ReadTimeout")
        if self.name in self.net.stalls:
            raise DeviceTimeout("Pattern not detected: 'r1\\(config\\)#' in output.", report_name="ReadTimeout")
        bad = self.net.refuse.get(self.name)
        if bad in lines:
            raise LineRefused(f"the device refused a line: {bad}")
        # the simulated device ends up with exactly the configuration the lines lead to
        self.net.running[self.name] = self.net.pending[self.name]

    def restore(self, backup: str) -> list[str]:
        self._alive()
        self.net.sent[self.name].append(["<restore>"])
        self.net.running[self.name] = backup
        self.net.armed.pop(self.name, None)
        return ["<restore>"]

    def save(self, **kwargs: object) -> None:
        self.net.saved.add(self.name)

    def neighbours(self) -> dict[str, str]:
        me = self.net.inv.routers[self.name]
        out = {}
        for port in me.interfaces:
            up = self.net.adjacent(self.name, port.peer)
            out[str(self.net.inv.routers[port.peer].loopback)] = "full" if up else "init"
        return out

    def missing_routes(self, prefixes: Any) -> list[Any]:
        return [] if self.net.configured(self.name) else list(prefixes)


@pytest.fixture
def inv() -> Any:
    return load_inventory(REPO / "inventory" / "lab.yml")


@pytest.fixture
def net(inv: Any, monkeypatch: pytest.MonkeyPatch) -> FakeNet:
    fake = FakeNet(inv)

    def connect(router: Any, connection: Any, secrets: Any, timeout: float) -> FakeDriver:
        if router.name in fake.unreachable or router.name in fake.dead:
            raise NetworkError(f"{router.name} ({router.mgmt_ip}): cannot connect: NetmikoTimeoutException")
        return FakeDriver(fake, router.name)

    monkeypatch.setattr(push_mod, "connect", connect)
    monkeypatch.setattr(push_mod, "settle_seconds", lambda inv, router: 0)  # the simulation reacts at once
    monkeypatch.setattr(push_mod, "open_driver", _context(connect))
    return fake


def _context(connect: Any) -> Any:
    from contextlib import contextmanager

    @contextmanager
    def open_driver(router: Any, connection: Any, secrets: Any, timeout: float) -> Any:
        yield connect(router, connection, secrets, timeout)

    return open_driver


@pytest.fixture
def opts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Options:
    monkeypatch.setenv("EGOV_SECRET_ROUTER_PASSWORD", PASSWORD)
    connection = Connection("root", tmp_path / "key", tmp_path / "known_hosts", "egov", None)
    return Options(secrets=Secrets(None), connection=connection, backups=Backups(tmp_path / "backups"),
                   workers=4, check_timeout=1.5)


def test_first_push_configures_all_and_second_is_a_no_op(inv: Any, net: FakeNet, opts: Options) -> None:
    first = push(inv, list(inv.routers.values()), opts)
    assert not first.failed
    assert set(first.changed_targets) == set(inv.routers) == net.saved
    assert all(len(batches) == 1 for batches in net.sent.values())
    net.saved.clear()
    second = push(inv, list(inv.routers.values()), opts)
    assert not second.failed and second.changed_targets == []
    assert {r.data["status"] for r in second.values()} == {NO_CHANGES}
    assert all(len(batches) == 1 for batches in net.sent.values())  # nothing sent the second time
    assert not net.saved


def test_unreachable_router_is_reported_and_others_succeed(inv: Any, net: FakeNet, opts: Options) -> None:
    net.unreachable.add("qn-ty-dong-ngu-r1")
    result = push(inv, list(inv.routers.values()), opts)
    assert result.failed_targets == ["qn-ty-dong-ngu-r1"]
    assert "cannot connect" in result["qn-ty-dong-ngu-r1"].error
    assert set(result.changed_targets) == set(inv.routers) - {"qn-ty-dong-ngu-r1"}


def test_unreachable_router_is_reported_as_a_network_error(inv: Any, net: FakeNet, opts: Options,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def connect(router: Any, connection: Any, secrets: Any, timeout: float) -> Any:
        raise DeviceUnreachable(f"{router.name} ({router.mgmt_ip}): cannot connect: NetmikoTimeoutException: TCP")

    monkeypatch.setattr(push_mod, "connect", connect)
    result = push(inv, [inv.routers["qn-core1"]], opts)
    assert result["qn-core1"].error == (f"prepare: NetworkError: qn-core1 ({inv.routers['qn-core1'].mgmt_ip}): "
                                        "cannot connect: NetmikoTimeoutException: TCP")


def test_a_timeout_while_sending_gets_a_restore_attempt(inv: Any, net: FakeNet, opts: Options) -> None:
    """Any failure, not only a refused line, gets a restore attempt; the report keeps netmiko's words."""
    net.stalls.add("qn-dh-r1")
    result = push(inv, list(inv.routers.values()), opts)
    assert result.failed_targets == ["qn-dh-r1"]
    assert result["qn-dh-r1"].error.startswith("apply: ReadTimeout: Pattern not detected: 'r1\\(config\\)#' in "
                                               "output.; restored ")
    assert result["qn-dh-r1"].data["status"] == "rolled back"
    assert result["qn-dh-r1"].data["transaction"] == "reverted by egov"
    assert ["<restore>"] in net.sent["qn-dh-r1"] and "qn-dh-r1" not in net.saved and not net.armed


def test_every_push_arms_the_revert_timer_and_confirms_it(inv: Any, net: FakeNet, opts: Options) -> None:
    """The timer is armed before the first line, sized to the run, and cancelled once the checks pass."""
    armed: dict[str, int] = {}
    original = FakeDriver.arm

    def arm(self: FakeDriver, seconds: int) -> None:
        assert net.sent[self.name] == []  # before the first line
        armed[self.name] = seconds
        original(self, seconds)

    FakeDriver.arm = arm  # type: ignore[method-assign]
    try:
        result = push(inv, list(inv.routers.values()), opts)
    finally:
        FakeDriver.arm = original  # type: ignore[method-assign]
    assert not result.failed and set(armed) == set(inv.routers)
    # 8 routers through 4 workers: 2 rounds of 30 s, no settle (simulated), a 1.5 s check, a 60 s margin
    assert set(armed.values()) == {122}
    assert {r.data["transaction"] for r in result.values()} == {"confirmed and saved"}
    assert not net.armed and net.saved == set(inv.routers)


def test_a_session_lost_mid_apply_is_left_to_the_revert_timer(inv: Any, net: FakeNet, opts: Options) -> None:
    """The session dies and a new one is refused (the change cut management): the restore fails, and the
    report says the router is left to its own timer, never "rolled back"; the timer then reverts it."""
    name = "qn-dh-quang-tan-r1"
    net.cuts.add(name)
    before = net.running[name]
    result = push(inv, list(inv.routers.values()), opts)[name]
    assert result.data["status"] == "left to revert timer"
    assert result.data["transaction"].startswith("left to the device's revert timer (")
    assert "restoring" in result.error and "FAILED (OSError: Socket is closed)" in result.error
    assert "puts the previous configuration back by itself in" in result.error
    assert name in net.armed and name not in net.saved
    net.fire(name)
    assert net.running[name] == before


def test_a_timer_that_fired_before_the_confirmation_is_reported_reverted(inv: Any, net: FakeNet, opts: Options,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks pass, but the router's timer had fired already (a window too short for the run): the
    confirmation finds no pending timer and says the device reverted, never "changed"."""
    name = "qn-core1"

    def wait_full(driver: Any, required: Any, timeout: float) -> set[str]:
        if driver.name == name and name in net.armed:
            net.fire(name)
        return set()

    monkeypatch.setattr(push_mod, "_wait_full", wait_full)
    result = push(inv, list(inv.routers.values()), opts)
    assert result.failed_targets == [name]
    assert result[name].data["status"] == "reverted by device"
    assert result[name].data["transaction"] == "reverted by the device's revert timer"
    assert "verify: NetworkError: the device's revert timer (122 s) fired before the change was confirmed" in \
        result[name].error
    assert name not in net.saved and net.running[name] == MGMT_ONLY


def _without_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulated routers as a platform without a revert timer (VRP V5), static routes its management path."""
    monkeypatch.setattr(FakeDriver, "revert_range", None)
    monkeypatch.setattr(FakeDriver, "mgmt_path", (r"^ip route ",))


def test_no_timer_refuses_a_management_change_unless_allowed(inv: Any, net: FakeNet, opts: Options,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _without_timer(monkeypatch)
    router = inv.routers["qn-ty-r1"]
    net.pending[router.name] = render(inv, router) + "ip route 192.0.2.0/24 10.22.255.1\n"
    result = push(inv, [router], opts, intended={router.name: net.pending[router.name]})[router.name]
    assert result.data["status"] == "refused" and net.sent[router.name] == []
    assert "has no revert timer" in result.error and "ip route 192.0.2.0/24 10.22.255.1" in result.error
    assert "--allow-no-revert" in result.error
    opts.allow_no_revert = True
    result = push(inv, [router], opts, intended={router.name: net.pending[router.name]})[router.name]
    assert result.data["status"] == "changed" and result.data["transaction"] == "confirmed and saved"


def test_no_timer_and_a_failed_restore_needs_a_console(inv: Any, net: FakeNet, opts: Options,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _without_timer(monkeypatch)
    net.cuts.add("qn-dh-r1")
    result = push(inv, [inv.routers["qn-dh-r1"]], opts)["qn-dh-r1"]
    assert result.data["status"] == "needs a console" and result.data["transaction"] == "needs a console"
    assert "FAILED" in result.error and "no revert timer" in result.error and "rolled back" not in result.error


def test_rejected_line_stops_and_restores(inv: Any, net: FakeNet, opts: Options) -> None:
    net.refuse["qn-dh-r1"] = "interface wan0"
    result = push(inv, list(inv.routers.values()), opts)
    assert result.failed_targets == ["qn-dh-r1"]
    assert "refused" in result["qn-dh-r1"].error and "restored" in result["qn-dh-r1"].error
    assert net.running["qn-dh-r1"] == MGMT_ONLY and "qn-dh-r1" not in net.saved


def test_failed_post_check_rolls_back_and_does_not_save(inv: Any, net: FakeNet, opts: Options) -> None:
    push(inv, list(inv.routers.values()), opts)
    net.saved.clear()
    before = net.running["qn-dh-quang-tan-r1"]
    net.pending["qn-dh-quang-tan-r1"] = before.replace("hello-interval 1", "hello-interval 2")
    changed = inv.routers["qn-dh-quang-tan-r1"]
    result = push(inv, [changed], opts,
                  intended={changed.name: net.pending[changed.name]})
    assert result.failed
    error = result[changed.name].error
    assert "post-check failed" in error and "qn-dh-r1" in error and "restored" in error
    assert net.running[changed.name] == before and not net.saved


def test_lockout_guard_refuses_before_anything_is_sent(inv: Any, net: FakeNet, opts: Options) -> None:
    router = inv.routers["qn-ty-r1"]
    noc = inv.noc_networks[0]
    bad = render(inv, router) + f"ip route {noc} blackhole\n"
    result = push(inv, [router], opts, intended={router.name: bad})
    assert result.failed and "lock-out guard" in result[router.name].error and str(noc) in result[router.name].error
    assert net.sent[router.name] == []


def test_dry_run_sends_and_backs_up_nothing(inv: Any, net: FakeNet, opts: Options) -> None:
    result = push(inv, list(inv.routers.values()), opts, dry_run=True)
    assert not result.failed and set(result.changed_targets) == set(inv.routers)
    assert "router ospf" in result["qn-core1"].diff
    assert all(batches == [] for batches in net.sent.values())
    assert not (opts.backups.root).exists()


def test_backups_are_private_timestamped_in_git_and_never_name_a_secret(inv: Any, net: FakeNet,
                                                                         opts: Options) -> None:
    push(inv, list(inv.routers.values()), opts)
    files = [p for p in opts.backups.root.rglob("*.cfg")]
    assert len(files) == len(inv.routers)
    for path in files:
        assert PASSWORD not in str(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text(encoding="utf-8") == MGMT_ONLY
    log = subprocess.run(["git", "log", "--name-only", "--format=%s"], cwd=opts.backups.root, check=False,
                         capture_output=True, text=True)
    assert log.stdout.startswith("before push: qn-core1, qn-core2")  # one commit for the run
    assert {line.split("/")[0] for line in log.stdout.splitlines() if line.endswith(".cfg")} == set(inv.routers)
    assert stat.S_IMODE(os.stat(opts.backups.root).st_mode) == 0o700


def test_rollback_restores_the_newest_backup(inv: Any, net: FakeNet, opts: Options) -> None:
    push(inv, list(inv.routers.values()), opts)  # backups hold the management-only config
    router = inv.routers["qn-dh-dam-ha-r1"]
    net.pending[router.name] = MGMT_ONLY
    result = rollback(inv, router, opts)
    assert not result.failed and net.running[router.name] == MGMT_ONLY
    assert result[router.name].data["restored_from"].endswith(".cfg")
    with pytest.raises(NetworkError, match="no backup matching '1999'"):
        rollback(inv, router, opts, to="1999")


def test_check_reports_missing_neighbours_and_routes(inv: Any, net: FakeNet, opts: Options) -> None:
    before = check(inv, list(inv.routers.values()), opts)
    assert set(before.failed_targets) == set(inv.routers)
    push(inv, list(inv.routers.values()), opts)
    after = check(inv, list(inv.routers.values()), opts)
    assert not after.failed
    assert after["qn-ty-r1"].data["neighbours_full"] == after["qn-ty-r1"].data["neighbours_expected"] == 4


# ---- the offline diff: files from the field instead of devices --------------------------------

PLATFORMS = FIXTURES / "platforms.yml"


def _write_day0(directory: Path) -> Any:
    from tests.support.day0 import day0

    platforms = load_inventory(PLATFORMS)
    directory.mkdir(exist_ok=True)
    for name in platforms.routers:
        (directory / f"{name}.cfg").write_text(day0(platforms, name), encoding="utf-8")
    return platforms


def test_offline_diff_prints_what_a_push_would_send_without_connecting(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from click.testing import CliRunner

    from cli import main

    def no_connection(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the offline diff connected to a device")

    monkeypatch.setattr(push_mod, "connect", no_connection)
    platforms = _write_day0(tmp_path / "running")
    result = CliRunner().invoke(main, ["net", "diff", "-i", str(PLATFORMS), "--running", str(tmp_path / "running"),
                                       "--user", "egovadmin", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["results"]
    assert set(report) == set(platforms.routers)
    for name, entry in report.items():
        assert entry["data"]["status"] == "would change" and entry["data"]["guard"] == [], name
        negations = [line for line in entry["diff"].splitlines()
                     if line.startswith(("undo ", "delete ")) and line not in FIRST_PUSH_NEGATIONS]
        assert negations == [], name
    text = CliRunner().invoke(main, ["net", "diff", "-i", str(PLATFORMS), "--running", str(tmp_path / "running"),
                                     "--user", "egovadmin", "--limit", "d-vrp"])
    assert "+++ lock-out guard: ok" in text.output and "d-vrp-r1: " in text.output
    # IOS never prints its SNMPv3 user: offline, it is listed apart, after the lines, and in --json's write_only
    assert [line.split()[:3] for line in report["d-ios-r1"]["data"]["write_only"]] == [
        ["snmp-server", "user", "egov-mon"]]
    assert "snmp-server user" not in report["d-ios-r1"]["diff"] and "write_only" not in report["d-vrp-r1"]["data"]
    ios = CliRunner().invoke(main, ["net", "diff", "-i", str(PLATFORMS), "--running", str(tmp_path / "running"),
                                    "--user", "egovadmin", "--limit", "d-ios"]).output
    listed = ios.index("+++ d-ios-r1: sent only if absent on the device (write-only: the device does not print it):")
    assert ios.index("+++ lock-out guard: ok") < listed < ios.index("+++   snmp-server user egov-mon EGOV-MON v3 ")


def test_offline_diff_names_a_missing_or_wrong_file_and_the_guard_refusal(tmp_path: Path) -> None:
    from network.push import diff_offline

    platforms = _write_day0(tmp_path)
    (tmp_path / "c-ios-r1.cfg").write_text("% Invalid input detected at '^' marker.\n", encoding="utf-8")
    (tmp_path / "c-vrp-r1.cfg").unlink()
    routers = [platforms.routers[name] for name in ("c-ios-r1", "c-vrp-r1", "c-junos-r1")]
    result = diff_offline(platforms, routers, tmp_path, user="egovadmin")
    assert "not a cisco_ios configuration" in result["c-ios-r1"].error
    assert "c-vrp-r1.cfg: cannot read" in result["c-vrp-r1"].error
    assert not result["c-junos-r1"].failed
    # the guard judges the push from where it would come: from outside the management ACL it is refused
    result = diff_offline(platforms, [platforms.routers["c-junos-r1"]], tmp_path, user="egovadmin",
                          source=IPv4Address("192.0.2.10"))
    assert result["c-junos-r1"].data["status"] == "refused"
    assert "SSH would be refused from 192.0.2.10/32" in result["c-junos-r1"].error


def test_the_settle_wait_is_taken_once_after_the_last_apply(inv: Any, net: FakeNet, opts: Options,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """No device is judged before the whole run has settled: a neighbour applied later may still break
    an adjacency of a device applied earlier, and that device's check must see it (issue 11: one OSPF
    wait per batch, not one per device inside the worker pool)."""
    settle = 0.4
    monkeypatch.setattr(push_mod, "settle_seconds", lambda inv, router: settle)
    applied: list[float] = []
    confirmed: list[float] = []
    apply, confirm = FakeDriver.apply, FakeDriver.confirm

    def slow_apply(self: FakeDriver, lines: list[str]) -> None:
        time.sleep(0.05)  # the devices of a pool apply one round after the other
        apply(self, lines)
        applied.append(time.monotonic())

    def timed_confirm(self: FakeDriver) -> None:
        confirmed.append(time.monotonic())
        confirm(self)

    monkeypatch.setattr(FakeDriver, "apply", slow_apply)
    monkeypatch.setattr(FakeDriver, "confirm", timed_confirm)
    opts.workers = 2
    start = time.monotonic()
    result = push(inv, list(inv.routers.values()), opts)
    assert not result.failed and len(confirmed) == len(inv.routers) >= 4
    assert min(confirmed) >= max(applied) + settle - 0.01
    # one wait for the run: the finish phase costs no settle per round of the pool
    assert time.monotonic() - start < (max(applied) - start) + settle + 1.0
