"""A push interrupted, raced and hit by a dying router, on the lab WAN test_20_network.py left
configured: Ctrl-C mid-push leaves every router confirmed, restored or not started (nothing sent), a
second push while the first runs is refused naming the first, and a router killed mid-apply is
reported while its peers finish. Each test ends with a plain push and `egov net check`: the lab is
left as it was found (configured, saved, converged).

Every router gets a change from a variant inventory (other SPF timers, harmless to the adjacencies),
so that every device of the run has something to send.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from egov.connection import lab_name
from network.archive import default_root
from tests.lab.test_20_network import EGOV, _converged, _net, _running

pytestmark = pytest.mark.lab

CHANGE = "timers throttle spf 150 1000 10000"
VICTIM = "qn-ty-dong-ngu-r1"     # a commune router, in the batch after the canary
TIEN_YEN = {"qn-ty-r1", "qn-ty-tien-yen-r1", "qn-ty-dong-ngu-r1"}   # the district's routers (lab.yml)


def _variant(lab: Any, tmp_path: Path, victim_routes: int = 0) -> Path:
    """The lab inventory with other SPF timers everywhere (and, given ``victim_routes``, that many static
    routes on VICTIM alone, so its apply lasts long enough to be cut)."""
    text = Path(lab.inventory.path).read_text(encoding="utf-8").replace(
        "  network__ospf_dead: 3\n", "  network__ospf_dead: 3\n  network__ospf_spf_throttle: [150, 1000, 10000]\n")
    if victim_routes:
        routes = ", ".join(f"{{prefix: '198.18.{n // 256}.{n % 256}/32', next_hop: blackhole}}"
                           for n in range(victim_routes))
        routed = f"{{name: {VICTIM}, vars: {{network__static_routes: [{routes}]}}, "
        marked = text.replace(f"{{name: {VICTIM}, ", routed)
        assert marked != text, f"{VICTIM} not in the lab inventory"
        text = marked
    path = tmp_path / Path(lab.inventory.path).name
    path.write_text(text, encoding="utf-8")
    return path


def _start_push(lab: Any, inventory: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "EGOV_LAB_NAME": lab_name(lab.inventory.path)}
    return subprocess.Popen([EGOV, "net", "push", "-i", str(inventory), "--json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(what: str, condition: Any, push: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if push.poll() is not None or time.monotonic() > deadline:
            out, err = push.communicate()
            pytest.fail(f"{what} never happened (push exit {push.returncode}):\n{out}\n{err}")
        time.sleep(0.05)


def _saved(lab: Any, router: str) -> str:
    rc, out = lab.exec(router, "cat /etc/frr/frr.conf")
    assert rc == 0, out
    return out


def _back_to_the_inventory(lab: Any, routers: list[str]) -> None:
    """Push the lab's own inventory to ``routers`` (those a test changed), then check the whole WAN."""
    if routers:
        limits = [arg for name in routers for arg in ("--limit", name)]
        rc, report = _net(lab, "push", "--no-canary", *limits)
        assert rc == 0, {name: r["error"] for name, r in report["results"].items() if r["failed"]}
    assert not _converged(lab)["failed"]
    for name in lab.inventory.routers:
        assert "timers throttle spf 150" not in _running(lab, name)


def test_ctrl_c_mid_push_leaves_every_router_confirmed_restored_or_untouched(lab: Any, tmp_path: Path) -> None:
    """SIGINT once qn-core1 (first of the first batch, two at a time) has its change: nothing new starts,
    what was sent is judged; qn-core2 (the second batch: never with qn-core1) is never touched."""
    push = _start_push(lab, _variant(lab, tmp_path), "--no-canary", "--workers", "2")
    try:
        _wait_for("qn-core1 changed", lambda: "timers throttle spf 150" in _running(lab, "qn-core1"), push)
        push.send_signal(signal.SIGINT)
        out, err = push.communicate(timeout=120)
    finally:
        if push.poll() is None:
            push.kill()
    assert push.returncode == 130, err
    assert "interrupted by SIGINT" in err
    report = json.loads(out)
    statuses = {name: result["data"]["status"] for name, result in report["results"].items()}
    assert set(statuses) == set(lab.inventory.routers)
    assert set(statuses.values()) <= {"changed", "rolled back", "not started"}, statuses
    assert statuses["qn-core1"] == "changed" and statuses["qn-core2"] == "not started", statuses
    for name, status in statuses.items():
        running, saved = _running(lab, name), _saved(lab, name)
        if status == "changed":       # confirmed: checked, then saved
            assert "timers throttle spf 150" in running and "timers throttle spf 150" in saved, name
        else:                         # restored, or nothing sent
            assert "timers throttle spf 150" not in running and "timers throttle spf 150" not in saved, name
            if status == "not started":
                assert "interrupted (SIGINT)" in report["results"][name]["error"]
    _back_to_the_inventory(lab, [name for name, status in statuses.items() if status == "changed"])


def test_a_second_push_while_one_runs_is_refused_naming_the_first(lab: Any, tmp_path: Path) -> None:
    """The first push configures the Tiên Yên district (three routers); the second wants its district router."""
    locks = default_root(lab.inventory) / ".locks"
    first = _start_push(lab, _variant(lab, tmp_path), "--limit", "tien-yen")

    def held() -> bool:
        try:
            return json.loads((locks / "qn-ty-r1.lock").read_text(encoding="utf-8"))["pid"] == first.pid
        except (OSError, ValueError):
            return False

    try:
        _wait_for("the first push's lock on qn-ty-r1", held, first)
        second = subprocess.run([EGOV, "net", "push", "-i", str(lab.inventory.path), "--limit", "qn-ty-r1"],
                                capture_output=True, text=True, timeout=120, check=False,
                                env={**os.environ, "EGOV_LAB_NAME": lab_name(lab.inventory.path)})
        assert second.returncode == 1, second.stdout + second.stderr
        assert f"router qn-ty-r1 is locked by pid {first.pid} (" in second.stderr, second.stderr
        assert "egov net push" in second.stderr
        out, err = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    changed = json.loads(out)["changed_targets"]
    assert set(changed) == TIEN_YEN
    assert not (locks / "qn-ty-r1.lock").read_text(encoding="utf-8")   # let go: the file names no holder
    _back_to_the_inventory(lab, changed)


def test_a_router_killed_mid_apply_is_reported_and_its_peers_finish(lab: Any, tmp_path: Path) -> None:
    """A push to the Tiên Yên district: the canary, then qn-ty-r1 with VICTIM, which gets 300 static routes on
    top of the common change; its container is killed (SIGKILL) once the first of them is on the device."""
    container = f"{lab_name(lab.inventory.path)}-{VICTIM}"
    push = _start_push(lab, _variant(lab, tmp_path, victim_routes=300), "--limit", "tien-yen")
    try:
        _wait_for(f"{VICTIM} mid-apply", lambda: "ip route 198.18." in _running(lab, VICTIM), push)
        subprocess.run(["docker", "kill", container], check=True, capture_output=True, timeout=60)
        out, err = push.communicate(timeout=180)
    finally:
        if push.poll() is None:
            push.kill()
        lab.start_node(VICTIM)
    assert push.returncode == 1, err
    report = json.loads(out)
    assert report["failed_targets"] == [VICTIM], report
    victim = report["results"][VICTIM]
    # its revert timer was armed before the first line: with the device gone, the restore cannot reach it
    assert victim["data"]["status"] == "left to revert timer" and "apply" in victim["error"], victim
    assert victim["data"]["transaction"].startswith("left to the device's revert timer"), victim
    for name, result in report["results"].items():
        if name != VICTIM:
            assert result["data"]["status"] == "changed", (name, result)
    assert set(report["results"]) == TIEN_YEN
    # killed before anything was saved: it came back with its saved configuration
    assert "198.18." not in _running(lab, VICTIM) and "timers throttle spf 150" not in _running(lab, VICTIM)
    _back_to_the_inventory(lab, report["changed_targets"])
