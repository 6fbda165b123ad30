"""Staged rollout, interruption and locks of `egov net push`.

Batch plans are checked against the sample inventories' own YAML (which routers share a site, which
routers a multi-homed router names as uplinks), read here with a plain YAML parser rather than through
the planner; pushes run on the simulated FRR devices of test_network_push (no SSH)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from cli import main
from egov.errors import InputError
from egov.interrupt import Stop, stop_on_signals
from egov.locks import FileLock, Holder, LockHeld
from inventory import load_inventory
from network.archive import Backups
from network.push import NOT_STARTED, Options, push
from network.rollout import Plan, parse_amount, plan, settings
from tests.unit import test_network_push as simulated
from tests.unit.test_network_push import FakeDriver, FakeNet

# the simulated lab's fixtures (pytest finds fixtures among a module's names)
inv, net, opts = simulated.inv, simulated.net, simulated.opts

REPO = Path(__file__).resolve().parents[2]
SAMPLES = ["lab.yml", "quangninh.yml", "quangninh-2025.yml"]
FINAL = {"changed", "no changes", "rolled back", "failed", "refused", NOT_STARTED}


def _pairs_in_yaml(name: str) -> list[set[str]]:
    """What the inventory file itself says must not change at once: a site's routers; a router's uplinks."""
    data = yaml.safe_load((REPO / "inventory" / name).read_text(encoding="utf-8"))
    groups = []
    for site in data["sites"]:
        routers = site.get("routers") or []
        groups.append({router["name"] for router in routers})
        groups += [set(router["uplinks"]) for router in routers if len(router.get("uplinks") or []) > 1]
    return [group for group in groups if len(group) > 1]


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("batch", [1, 5, 20, "10%", "100%"])
def test_no_batch_holds_two_members_of_a_pair_and_every_router_is_in_one(sample: str, batch: Any) -> None:
    inventory = load_inventory(REPO / "inventory" / sample)
    routers = list(inventory.routers.values())
    staged = plan(inventory, routers, batch=batch, max_fail=0, canary=True)
    flat = [name for names in staged.batches for name in names]
    assert sorted(flat) == sorted(inventory.routers)
    pairs = _pairs_in_yaml(sample)
    assert pairs, sample
    for names in staged.batches:
        for group in pairs:
            assert len(group & set(names)) <= 1, (names, group)
    limit = batch if isinstance(batch, int) else max(1, len(routers) * int(batch[:-1]) // 100)
    assert all(len(names) <= limit for names in staged.batches)
    assert staged.batches[0] == [staged.batches[0][0]]   # the canary is alone


def test_the_canary_is_a_leaf_and_the_cores_change_apart() -> None:
    inventory = load_inventory(REPO / "inventory" / "lab.yml")
    routers = list(inventory.routers.values())
    staged = plan(inventory, routers, batch="100%", max_fail=0, canary=True)
    assert staged.batches[0] == ["qn-ty-tien-yen-r1"]   # the first commune router of lab.yml
    core1 = next(i for i, names in enumerate(staged.batches) if "qn-core1" in names)
    core2 = next(i for i, names in enumerate(staged.batches) if "qn-core2" in names)
    assert core1 != core2
    assert len(staged.batches) == 3                      # canary, everything but qn-core2, qn-core2
    without = plan(inventory, routers, batch="100%", max_fail=0, canary=False)
    assert len(without.batches) == 2 and not without.canary and len(without.batches[0]) == 7
    province = load_inventory(REPO / "inventory" / "quangninh.yml")
    staged = plan(province, list(province.routers.values()), batch=20, max_fail=0, canary=True)
    canary = province.routers[staged.batches[0][0]]
    assert province.sites[canary.site].level == "commune"
    assert [len(names) for names in staged.batches[1:]].count(20) >= 9   # 198 routers: batches of 20


def test_one_router_is_one_batch_without_a_canary() -> None:
    inventory = load_inventory(REPO / "inventory" / "lab.yml")
    staged = plan(inventory, [inventory.routers["qn-core1"]], batch=20, max_fail=0, canary=True)
    assert staged.batches == [["qn-core1"]] and not staged.canary


def _results(names: list[str], failed: set[str]) -> list[Any]:
    from egov.results import Result

    return [Result(target=name, failed=name in failed) for name in names]


def test_thresholds_as_ansible_counts_them() -> None:
    names = ["a", "b", "c", "d"]
    assert Plan([names], max_fail=0).halts(0, _results(names, set())) is None
    assert "1 of 4: a" in (Plan([names], max_fail=0).halts(0, _results(names, {"a"})) or "")
    assert Plan([names], max_fail=1).halts(0, _results(names, {"a"})) is None
    assert Plan([names], max_fail=1).halts(0, _results(names, {"a", "b"})) is not None
    # max_fail_percentage: the batch stops when MORE than the percentage failed
    assert Plan([names], max_fail="50%").halts(0, _results(names, {"a", "b"})) is None
    assert Plan([names], max_fail="50%").halts(0, _results(names, {"a", "b", "c"})) is not None
    assert Plan([names], max_fail="10%").halts(0, _results(names, {"a"})) is not None
    # the canary tolerates nothing, whatever max_fail says
    assert "canary" in (Plan([["a"], ["b", "c"]], canary=True, max_fail=5).halts(0, _results(["a"], {"a"})) or "")
    assert Plan([["a"], ["b", "c"]], canary=True, max_fail=5).halts(1, _results(["b", "c"], {"b"})) is None


@pytest.mark.parametrize(("text", "minimum", "expected"), [("5", 1, 5), ("20%", 1, "20%"), ("0", 0, 0),
                                                           ("100%", 0, "100%"), (3, 1, 3)])
def test_amounts(text: Any, minimum: int, expected: Any) -> None:
    assert parse_amount(text, "--batch", minimum) == expected


@pytest.mark.parametrize(("text", "minimum"), [("0", 1), ("abc", 1), ("101%", 1), ("-1", 0), ("0%", 1),
                                               ("1.5", 1), (True, 0)])
def test_bad_amounts_name_the_option(text: Any, minimum: int) -> None:
    with pytest.raises(InputError, match=r"--batch: .* must be a whole number >= \d or a percentage"):
        parse_amount(text, "--batch", minimum)


def test_bad_batch_option_exits_2_before_any_device_is_contacted() -> None:
    result = CliRunner().invoke(main, ["net", "push", "-i", str(REPO / "inventory" / "lab.yml"), "--batch", "lots"])
    assert result.exit_code == 2 and "--batch: 'lots'" in result.output


def test_routers_of_one_run_must_agree_on_the_rollout(tmp_path: Path) -> None:
    text = (REPO / "inventory" / "lab.yml").read_text(encoding="utf-8").replace(
        "{name: qn-core2, slot: 1}", "{name: qn-core2, slot: 1, vars: {network__rollout: {batch: 2}}}")
    path = tmp_path / "lab.yml"
    path.write_text(text, encoding="utf-8")
    inventory = load_inventory(path)
    assert settings(inventory, [inventory.routers["qn-core2"]]).batch == 2   # merged key by key
    with pytest.raises(InputError, match="network__rollout differs between the routers of this run"):
        settings(inventory, list(inventory.routers.values()))


# ---- staged pushes on the simulated devices ------------------------------------------------------

def _lab_plan(inv: Any, **kwargs: Any) -> Plan:
    return plan(inv, list(inv.routers.values()), **{"batch": "100%", "max_fail": 0, "canary": True, **kwargs})


def test_a_staged_first_push_configures_every_router(inv: Any, net: FakeNet, opts: Options) -> None:
    """Peers in later batches are not required Full (not configured yet); those of earlier batches are."""
    staged = _lab_plan(inv)
    result = push(inv, list(inv.routers.values()), opts, plan=staged)
    assert not result.failed, {n: r.error for n, r in result.items() if r.failed}
    assert set(result.changed_targets) == set(inv.routers) == net.saved
    assert result["qn-ty-tien-yen-r1"].data["batch"] == 1 and result["qn-core2"].data["batch"] == 3
    # what each check required: peers of its own and earlier batches (no router was Full before)
    assert result["qn-ty-tien-yen-r1"].data["neighbours_full"] == 0            # qn-ty-r1 comes later
    assert result["qn-ty-r1"].data["neighbours_full"] == 3                     # not qn-core2 (batch 3)
    assert result["qn-core2"].data["neighbours_full"] == 2                     # both districts


def test_a_failed_canary_leaves_every_other_router_untouched(inv: Any, net: FakeNet, opts: Options) -> None:
    net.unreachable.add("qn-ty-tien-yen-r1")
    result = push(inv, list(inv.routers.values()), opts, plan=_lab_plan(inv))
    assert result.failed_targets == ["qn-ty-tien-yen-r1"]
    for name, r in result.items():
        if name != "qn-ty-tien-yen-r1":
            assert r.data["status"] == NOT_STARTED and not r.changed, (name, r)
            assert "the canary batch failed" in r.error
            assert net.sent[name] == []
    assert not net.saved


@pytest.mark.parametrize(("max_fail", "core2"), [(0, NOT_STARTED), (1, "changed")])
def test_a_batch_over_the_threshold_stops_the_rollout(inv: Any, net: FakeNet, opts: Options, max_fail: int,
                                                      core2: str) -> None:
    net.refuse["qn-dh-quang-tan-r1"] = "router ospf"   # batch 2 holds it; qn-core2 is batch 3
    result = push(inv, list(inv.routers.values()), opts, plan=_lab_plan(inv, max_fail=max_fail))
    assert result["qn-dh-quang-tan-r1"].data["status"] == "rolled back"
    assert result["qn-core2"].data["status"] == core2
    assert (net.sent["qn-core2"] == []) == (core2 == NOT_STARTED)


# ---- interruption -------------------------------------------------------------------------------

class Interrupting(FakeDriver):
    """Ctrl-C arrives while this device's lines are being sent: sent to the process (the kernel hands
    it to the main thread unless that one has a signal pending already), or to this worker thread."""

    stop: Stop
    to_worker: bool

    def apply(self, lines: list[str]) -> None:
        super().apply(lines)
        if self.name == "qn-ty-r1":
            # a real signal, through the handler the CLI installs
            if self.to_worker:
                signal.pthread_kill(threading.get_ident(), signal.SIGINT)
            else:
                os.kill(os.getpid(), signal.SIGINT)
            deadline = time.monotonic() + 10       # the handler runs in the main thread, when it next wakes
            while not self.stop.requested and time.monotonic() < deadline:
                time.sleep(0.01)


@pytest.mark.parametrize("to_worker", [False, True], ids=["to the process", "to a worker thread"])
def test_ctrl_c_starts_nothing_new_and_judges_what_was_sent(inv: Any, net: FakeNet, opts: Options,
                                                            monkeypatch: pytest.MonkeyPatch, to_worker: bool) -> None:
    from network import push as push_mod

    monkeypatch.setattr(push_mod, "connect", lambda router, *args: Interrupting(net, router.name))
    monkeypatch.setattr(Interrupting, "stop", opts.stop, raising=False)
    monkeypatch.setattr(Interrupting, "to_worker", to_worker, raising=False)
    opts.workers = 1                                # the other routers of the batch are still queued
    again: list[int] = []
    before = signal.getsignal(signal.SIGINT)  # the default, or SIG_IGN in a background job (nohup, CI)
    with stop_on_signals(opts.stop, again.append):
        result = push(inv, list(inv.routers.values()), opts, plan=_lab_plan(inv))
    assert signal.getsignal(signal.SIGINT) is before   # put back
    assert opts.stop.requested and opts.stop.exit_code == 130 and again == []
    statuses = {name: r.data["status"] for name, r in result.items()}
    assert set(statuses.values()) <= FINAL and opts.in_flight == {}
    # sent before the signal: judged (confirmed here: the canary and qn-ty-r1 are adjacent)
    assert statuses["qn-ty-tien-yen-r1"] == "changed" and statuses["qn-ty-r1"] == "changed"
    assert {"qn-ty-r1", "qn-ty-tien-yen-r1"} <= net.saved
    # queued or in a later batch: never sent anything, never saved
    later = [name for name, status in statuses.items() if status == NOT_STARTED]
    assert "qn-core2" in later and len(later) >= 4
    for name in later:
        assert net.sent[name] == [] and name not in net.saved
        assert "interrupted (SIGINT)" in result[name].error


def test_a_second_signal_calls_again_and_handlers_are_put_back() -> None:
    stop, again = Stop(), list[int]()
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals(stop, again.append):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert stop.requested and stop.name == "SIGTERM" and again == []
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
    assert again == [signal.SIGINT] and stop.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is before


# ---- locks --------------------------------------------------------------------------------------

def _holder() -> Holder:
    return Holder(pid=4242, user="alice", host="noc-1", started="2026-12-01T08:00:00Z",
                  command="egov net push --limit dc")


def test_a_held_lock_names_its_holder(tmp_path: Path) -> None:
    first = FileLock(tmp_path / "locks" / "qn-core1.lock", "router qn-core1")
    first.acquire(_holder())
    with pytest.raises(LockHeld) as err:
        FileLock(tmp_path / "locks" / "qn-core1.lock", "router qn-core1").acquire(Holder.me())
    assert str(err.value).startswith("router qn-core1 is locked by pid 4242 (alice@noc-1, since "
                                     "2026-12-01T08:00:00Z: egov net push --limit dc)")
    assert (tmp_path / "locks").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "locks" / "qn-core1.lock").stat().st_mode & 0o777 == 0o600
    first.release()
    FileLock(tmp_path / "locks" / "qn-core1.lock", "router qn-core1").acquire(Holder.me())


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    """A run killed -9 leaves its lock file naming it; the kernel has dropped its flock, so it is no lock."""
    path = tmp_path / "qn-core1.lock"
    holder = subprocess.Popen([sys.executable, "-c", f"""
import fcntl, json, os, sys, time
fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, json.dumps(dict(pid=os.getpid(), user="bob", host="h", started="s", command="c")).encode())
print("held", flush=True)
time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    with pytest.raises(LockHeld, match=f"pid {holder.pid} \\(bob@h"):
        FileLock(path, "router qn-core1").acquire(Holder.me())
    holder.kill()
    holder.wait()
    assert json.loads(path.read_text())["pid"] == holder.pid   # the dead run's file is still there
    lock = FileLock(path, "router qn-core1")
    lock.acquire(Holder.me())
    assert json.loads(path.read_text())["pid"] == os.getpid()
    lock.release()


def test_a_push_is_refused_whole_when_a_router_is_locked(inv: Any, net: FakeNet, opts: Options) -> None:
    other = FileLock(opts.backups.lock_dir / "qn-core2.lock", "router qn-core2")
    other.acquire(_holder())
    with pytest.raises(LockHeld, match="router qn-core2 is locked by pid 4242 \\(alice@noc-1"):
        push(inv, list(inv.routers.values()), opts, plan=_lab_plan(inv))
    assert all(sent == [] for sent in net.sent.values())
    # its own locks were let go: once the other run ends, the push runs
    other.release()
    assert not push(inv, list(inv.routers.values()), opts, plan=_lab_plan(inv)).failed
    # a dry run changes nothing and takes no lock
    other.acquire(_holder())
    assert not push(inv, list(inv.routers.values()), opts, dry_run=True).failed


def test_the_backup_repository_is_written_under_its_lock(tmp_path: Path) -> None:
    root = tmp_path / "backups"
    one, two = Backups(root), Backups(root)
    one.save("qn-core1", "hostname qn-core1\n")
    one.record("first")
    two.save("qn-core2", "hostname qn-core2\n")
    repo = FileLock(root / ".locks" / "backups.lock", "the backup repository")
    repo.acquire(_holder())
    waiter = threading.Thread(target=two.record, args=("second",))
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive()                       # waiting for the other run's commit
    one.save("qn-core1", "hostname qn-core1\n!\n")  # another run's backup, not yet recorded
    repo.release()
    waiter.join(timeout=10)
    log = subprocess.run(["git", "log", "--name-only", "--format=%s"], cwd=root, check=True,
                         capture_output=True, text=True).stdout.split()
    assert log[:2] == ["second", "qn-core2/" + next((root / "qn-core2").glob("*.cfg")).name]  # only its own file
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, check=True, capture_output=True,
                            text=True).stdout
    assert status.strip().startswith("?? qn-core1/") and ".locks" not in status


def test_the_second_ctrl_c_names_what_it_leaves_to_the_dead_mans_switch(monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from commands import net as net_cmd

    exits: list[int] = []
    monkeypatch.setattr(net_cmd.os, "_exit", exits.append)
    opts = SimpleNamespace(in_flight={"qn-core1": "apply", "qn-ty-r1": "finish", "qn-dh-r1": "prepare"})
    net_cmd._left_unfinished(opts)(signal.SIGINT)
    err = capsys.readouterr().err
    assert exits == [130]
    assert "Left to their dead man's switch (changed, not confirmed" in err
    assert "qn-core1, qn-ty-r1." in err and "(nothing sent): qn-dh-r1." in err


@pytest.mark.parametrize(("value", "message"), [
    ("{batch: 0, max_fail: 0, canary: true}", "network__rollout.batch: Value error, must be a whole number >= 1"),
    ("{batch: 5, max_fail: '150%', canary: true}", "network__rollout.max_fail: Value error, must be a whole number"),
    ("{batch: '5', max_fail: 0, canary: true}", "network__rollout.batch: Value error, must be a whole number"),
    ("{batch: 5, max_fail: 0, canary: 'yes'}", "network__rollout.canary: Input should be a valid boolean"),
    ("{batch: 5, serial: 2}", "network__rollout.serial: Extra inputs are not permitted"),
])
def test_a_bad_rollout_in_the_inventory_names_its_line(tmp_path: Path, value: str, message: str) -> None:
    from egov.errors import InventoryError

    text = (REPO / "inventory" / "lab.yml").read_text(encoding="utf-8")
    path = tmp_path / "lab.yml"
    dead = "  network__ospf_dead: 3\n"
    path.write_text(text.replace(dead, f"{dead}  network__rollout: {value}\n"), encoding="utf-8")
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    line = text.splitlines().index("  network__ospf_dead: 3") + 2
    assert f"{path}:{line}: defaults.{message}" in str(err.value)
