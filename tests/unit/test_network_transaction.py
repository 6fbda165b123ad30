"""Each platform's transaction (its dead man's switch) against the device as it answers: the timer armed
before the first line, confirmed after the checks, expired before the confirmation, a pending commit
found (or not) before confirming, and a restore in the platform's own words. The devices' words are
tests/support/fake_cli.py's transcripts, written from the vendors' documents (named there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from netmiko.cisco.cisco_ios import CiscoIosSSH
from netmiko.huawei.huawei import HuaweiSSH, HuaweiVrpv8SSH
from netmiko.juniper.juniper import JuniperSSH

from egov.errors import DeviceUnreachable, LineRefused, NetworkError, RevertExpired
from network.drivers.base import EXPIRED, REVERTED
from network.drivers.cisco_ios import CiscoIosDriver
from network.drivers.frr import FrrDriver, FrrVtyshSSH
from network.drivers.huawei_vrp import HuaweiVrpDriver, HuaweiVrpV8Driver
from network.drivers.juniper_junos import JuniperJunosDriver
from tests.support import fake_cli
from tests.support.day0 import fixture

NTP = "ntp server 10.22.176.10"
FRR_DAY0 = (Path(__file__).resolve().parents[1] / "fixtures" / "network" / "running" / "frr" / "day0.cfg"
            ).read_text(encoding="utf-8")


def _after(received: list[str], first: str, then: str) -> bool:
    """``then`` was typed after ``first``."""
    return first in received and then in received[received.index(first):]


# ---- Cisco IOS XE: configure terminal revert timer / configure confirm / configure revert now ----------

def _ios(**timer: Any) -> tuple[CiscoIosDriver, fake_cli.FakeCli]:
    cli = fake_cli.ios(fixture("cisco_ios"), timer=fake_cli.RevertTimer(**timer))
    return CiscoIosDriver(fake_cli.connection(CiscoIosSSH, cli, "r1")), cli


def test_ios_arms_before_the_first_line_and_confirms_after() -> None:
    driver, cli = _ios()
    driver.begin(150)  # IOS counts minutes: 150 s is armed as 3 min
    assert cli.timer.state == "pending" and cli.timer.value == 3 and driver.armed is not None
    assert driver.armed.seconds == 180
    driver.apply([NTP])
    assert cli.received.index("configure terminal revert timer 3") < cli.received.index(NTP)
    assert "configure terminal" not in cli.received  # the lines are typed in the timer's own session
    driver.confirm()
    assert _after(cli.received, "show archive config rollback timer", "configure confirm")
    assert _after(cli.received, "configure confirm", "write mem") and cli.timer.state == "confirmed"
    assert driver.armed is None


def test_ios_without_an_archive_gets_one_before_the_timer() -> None:
    driver, cli = _ios(archive=False)
    driver.begin(60)
    assert _after(cli.received, "path flash:egov-archive", "configure terminal revert timer 1")
    assert cli.timer.state == "pending"


@pytest.mark.parametrize("make", [lambda: _ios(state="pending", value=5), lambda: _v8(state="pending", value=300)])
def test_another_sessions_pending_change_is_not_ours_to_confirm(make: Any) -> None:
    driver, cli = make()
    with pytest.raises(NetworkError, match=r"pending on the device already|running on the device already"):
        driver.begin(120)
    assert driver.armed is None and cli.timer.value in (5, 300)


def test_ios_restore_is_the_devices_own_revert() -> None:
    driver, cli = _ios()
    driver.begin(120)
    driver.apply([NTP])
    assert driver.abort("") == REVERTED
    assert cli.received[-1] == "configure revert now" and cli.timer.state == "reverted"


# ---- Junos: configure exclusive / commit check / commit confirmed N / show system commit ------------------

def _junos(**timer: Any) -> tuple[JuniperJunosDriver, fake_cli.FakeCli]:
    cli = fake_cli.junos(fixture("juniper_junos"), timer=fake_cli.RevertTimer(**timer))
    return JuniperJunosDriver(fake_cli.connection(JuniperSSH, cli, "egovadmin@r1")), cli


def test_junos_exclusive_check_confirmed_then_pending_found_and_confirmed() -> None:
    driver, cli = _junos()
    driver.begin(150)
    assert cli.received == ["configure exclusive"] and cli.timer.state == "none"  # the candidate changes nothing
    driver.apply(["set system ntp server 10.22.176.10"])
    assert cli.received[1:] == ["set system ntp server 10.22.176.10", "commit check", "commit confirmed 3"]
    assert driver.pending()  # "0 ... commit confirmed, rollback in 3mins"
    driver.confirm()
    assert cli.received[-3:] == ["run show system commit", "commit", "exit configuration-mode"]
    assert cli.timer.state == "confirmed"
    # after the confirmation the history still holds "commit confirmed, rollback in" on commit 1: not pending
    assert not driver.pending()


def test_junos_locked_configuration_names_the_holder() -> None:
    driver, cli = _junos(locked_by="noc terminal p1 (pid 4121) on since 2026-12-01 01:58:02 UTC, idle 00:03:11")
    with pytest.raises(LineRefused, match=r"locked by another session: .*noc terminal p1 \(pid 4121\)"):
        driver.begin(150)
    assert not any(line.startswith("set ") for line in cli.received)


@pytest.mark.parametrize(("line", "message"), [
    ("set bogus", "syntax error."),
    ("set interfaces ge-0/0/0 unit 0 family inet address 300.0.0.1/31", "error: invalid value"),
])
def test_junos_refused_line_never_sends_rollback_1(line: str, message: str) -> None:
    """The issue's bug: after a refusal (our candidate discarded by "rollback 0") the restore sent
    "rollback 1" + "commit", undoing the router's previous, unrelated commit. Nothing of ours was
    committed: the restore discards again, and commits nothing."""
    driver, cli = _junos()
    driver.begin(150)
    with pytest.raises(LineRefused, match=message):
        driver.apply([line])
    assert "rollback 0" in cli.received
    assert driver.abort("") == REVERTED
    assert "rollback 1" not in cli.received and not any(sent.startswith("commit") for sent in cli.received)


def test_junos_restore_of_our_pending_commit_is_rollback_1() -> None:
    driver, cli = _junos()
    driver.begin(150)
    driver.apply(["set system ntp server 10.22.176.10"])
    assert driver.abort("") == REVERTED
    assert cli.received[-4:] == ["run show system commit", "rollback 1", "commit", "exit configuration-mode"]


def test_junos_restore_after_a_confirmed_commit_takes_it_back() -> None:
    """The confirmation committed, then the session failed: our commit is permanent, so rollback 1 + commit."""
    driver, cli = _junos()
    driver.begin(150)
    driver.apply(["set system ntp server 10.22.176.10"])
    driver.confirm()
    assert driver.abort("") == REVERTED
    assert cli.received[-4:] == ["configure exclusive", "rollback 1", "commit", "exit configuration-mode"]


# ---- Huawei VRP V8: commit trial N / commit / abort trial; V5: none ------------------------------------------

def _v8(**timer: Any) -> tuple[HuaweiVrpV8Driver, fake_cli.FakeCli]:
    cli = fake_cli.vrp(fixture("huawei_vrp"), v8=True, timer=fake_cli.RevertTimer(**timer))
    return HuaweiVrpV8Driver(fake_cli.connection(HuaweiVrpv8SSH, cli, "r1")), cli


def test_vrp_v8_trial_commit_then_commit_and_save() -> None:
    driver, cli = _v8()
    driver.begin(30)  # commit trial takes 60 to 65535 s
    # only the check that no other session's trial runs: the candidate changes nothing before the trial commit
    assert cli.received == ["display configuration trial status"]
    assert driver.armed is not None and driver.armed.seconds == 60
    driver.apply(["ntp-service unicast-server 10.22.176.10"])
    assert cli.received[-1] == "commit trial 60" and cli.timer.state == "pending"
    driver.confirm()
    assert _after(cli.received, "display configuration trial status", "commit")
    assert cli.received[-3:] == ["return", "save", "y"] and cli.timer.state == "confirmed"


def test_vrp_v8_restore_is_abort_trial() -> None:
    driver, cli = _v8()
    driver.begin(120)
    driver.apply(["ntp-service unicast-server 10.22.176.10"])
    assert driver.abort("") == REVERTED
    assert cli.answered == [("abort trial", "y")] and cli.timer.state == "reverted"


def test_vrp_v5_has_no_timer_and_names_management_changes() -> None:
    cli = fake_cli.vrp(fixture("huawei_vrp"))
    driver = HuaweiVrpDriver(fake_cli.connection(HuaweiSSH, cli, "r1"))
    driver.begin(150)
    assert driver.armed is None and cli.received == []
    changes = [("ospf 1", "area 0.0.0.0", "network 10.22.255.0 0.0.0.1"), ("acl number 2000", "rule 5 permit"),
               ("user-interface vty 0 4", "acl 2000 inbound"), ("interface MEth0/0/0", "ip address 10.0.0.2 24")]
    assert HuaweiVrpDriver.management_changes(changes) == [" / ".join(change) for change in changes[1:]]


# ---- FRR (the lab): the router's egov-revert over an exec channel ----------------------------------------------

def _frr(**timer: Any) -> tuple[FrrDriver, fake_cli.FakeCli, fake_cli.FakeSshClient]:
    cli = fake_cli.frr(FRR_DAY0)
    conn = fake_cli.connection(FrrVtyshSSH, cli, "r1")
    ssh = conn.remote_conn_pre = fake_cli.FakeSshClient(fake_cli.RevertTimer(**timer))
    return FrrDriver(conn), cli, ssh


def test_frr_arms_over_the_session_then_cancels_and_saves() -> None:
    driver, cli, ssh = _frr()
    driver.begin(154)
    assert ssh.commands == ["egov-revert arm 154"] and cli.received == []  # before the first line
    driver.apply(["ip route 192.0.2.0/24 blackhole"])
    driver.confirm()
    assert ssh.commands[-1] == "egov-revert cancel" and ssh.timer.state == "confirmed"
    assert cli.received[-1] == "write memory"


def test_frr_second_push_is_refused_by_the_pending_timer() -> None:
    driver, _, _ = _frr(state="pending", value=80)
    with pytest.raises(NetworkError, match=r"already pending \(80 s left\): another push holds this router"):
        driver.begin(60)
    assert driver.armed is None


def test_frr_restore_sends_the_backup_back_then_cancels() -> None:
    driver, cli, ssh = _frr()
    driver.begin(60)
    driver.apply(["ip route 192.0.2.0/24 blackhole"])
    taken = FRR_DAY0.replace("!\nend", "ip route 192.0.2.0/24 blackhole\n!\nend")
    cli.replies.insert(0, (r"^show running-config$", taken))
    assert driver.abort(FRR_DAY0) == REVERTED
    assert "no ip route 192.0.2.0/24 blackhole" in cli.received and ssh.commands[-1] == "egov-revert cancel"


def test_frr_lost_connection_is_unreachable_not_pending() -> None:
    driver, _, ssh = _frr()
    driver.begin(60)
    ssh.alive = False
    with pytest.raises(DeviceUnreachable):
        driver.pending()


# ---- every platform: a timer that fired before the confirmation ------------------------------------------------

def _devices() -> dict[str, tuple[Any, fake_cli.FakeCli, fake_cli.RevertTimer, str]]:
    """Each platform's driver, CLI, timer and a line to apply."""
    ios, ios_cli = _ios()
    junos, junos_cli = _junos()
    v8, v8_cli = _v8()
    frr, frr_cli, ssh = _frr()
    return {"cisco_ios": (ios, ios_cli, ios_cli.timer, NTP),
            "juniper_junos": (junos, junos_cli, junos_cli.timer, "set system ntp server 10.22.176.10"),
            "huawei_vrpv8": (v8, v8_cli, v8_cli.timer, "ntp-service unicast-server 10.22.176.10"),
            "frr": (frr, frr_cli, ssh.timer, "ip route 192.0.2.0/24 blackhole")}


# what would confirm, save or undo the change again once the device has reverted it itself: never sent. Junos's
# own rollback is commit 0 and ours commit 1, so "rollback 1" would put our change back.
NEVER = {"cisco_ios": {"configure confirm", "write mem", "configure revert now"},
         "juniper_junos": {"commit", "rollback 1"}, "huawei_vrpv8": {"commit", "save", "abort trial"},
         "frr": {"write memory"}}


@pytest.mark.parametrize("platform", sorted(NEVER))
def test_a_timer_that_fired_first_is_reported_never_confirmed_saved_or_undone(platform: str) -> None:
    driver, cli, timer, line = _devices()[platform]
    driver.begin(120)
    driver.apply([line])
    sent = len(cli.received)
    timer.expire()  # the device put its previous configuration back by itself
    with pytest.raises(RevertExpired, match=r"revert timer \(120 s\) fired before the change was confirmed"):
        driver.confirm()
    assert driver.abort(FRR_DAY0) == EXPIRED
    assert not NEVER[platform] & set(cli.received[sent:]), cli.received[sent:]
