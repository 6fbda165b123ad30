"""The dead man's switch on the lab's FRR routers: a push whose change cuts the management path (a route
that captures the replies to the control machine) loses its session; the router puts its configuration
back by itself within its revert timer, and the run reports that it left the router to that timer
(or, had the timer fired before the push gave up, that the timer reverted it), never "rolled back".

The lock-out guard refuses such a change, so this test pushes it past the guard through a TEST-ONLY
hook: it replaces ``network.push.guard`` in this process (pytest's monkeypatch), which no option,
variable or file of the CLI can reach. The router is left as it was: reverted, nothing saved.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from network import push as push_mod
from network.drivers.base import EXPIRED
from network.drivers.frr import FrrDriver
from network.push import Options, diff, push
from network.render import render

pytestmark = pytest.mark.lab

ROUTER = "qn-ty-tien-yen-r1"  # a commune router: in inventory/lab.yml and in the small labs cut from it
WINDOW = 60.0                 # the revert timer: past the push's own give-up (30 s read + 10 s channel + 5 s login)


def _running(lab: Any) -> str:
    rc, out = lab.exec(ROUTER, "vtysh -c 'show running-config'")
    assert rc == 0, out
    return out


def test_a_change_that_cuts_management_reverts_by_itself_and_is_reported(lab: Any, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    inv = lab.inventory
    router = inv.routers[ROUTER]
    cut = f"ip route {inv.plan.control_ip}/32 blackhole"  # the router's replies to this machine go nowhere
    opts = Options.for_inventory(inv, backup_dir=tmp_path / "backups", revert_window=WINDOW, check_timeout=10,
                                 connect_timeout=5)
    monkeypatch.setattr(push_mod, "guard", lambda *args, **kwargs: [])  # TEST-ONLY: past the lock-out guard
    intended = {ROUTER: render(inv, router, opts.secrets) + cut + "\n"}
    before = _running(lab)
    started = time.monotonic()
    result = push(inv, [router], opts, intended=intended, verify=False)[ROUTER]
    took = time.monotonic() - started

    assert result.failed and cut in result.diff, result
    assert result.data["status"] in ("left to revert timer", "reverted by device"), result
    how = result.data["transaction"]
    assert how == EXPIRED or how.startswith("left to the device's revert timer ("), result
    if how != EXPIRED:
        assert "FAILED" in result.error and "puts the previous configuration back by itself" in result.error
    assert "rolled back" not in result.data["status"]

    # the router reverts by itself, within its timer (frr-reload.py takes a few seconds)
    while cut in _running(lab) and time.monotonic() - started < WINDOW + 30:
        time.sleep(1)
    reverted = time.monotonic() - started
    assert cut not in _running(lab), f"still cut {reverted:.0f} s after the push started"
    assert reverted <= WINDOW + 20, reverted
    rc, status = lab.exec(ROUTER, "egov-revert status")
    assert rc == 0 and status.startswith("expired: reverted at"), status
    rc, saved = lab.exec(ROUTER, "cat /etc/frr/frr.conf")
    assert rc == 0 and cut not in saved  # nothing of the change was saved

    # exactly as before the push, and the control machine manages it again
    assert FrrDriver.normalise(_running(lab)) == FrrDriver.normalise(before)
    again = diff(inv, [router], opts)[ROUTER]
    assert not again.failed, (again, took)
