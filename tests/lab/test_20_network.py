"""The lab WAN through `egov net`: routers start management-only; a push configures the WAN while a
stopped router is reported and the others succeed; OSPF converges and every commune loopback
answers the DC core; a second push is a no-op; OSPF authentication is on and every adjacency Full,
and a router given another key is rolled back; a change that breaks an adjacency is rolled back;
the lock-out guard refuses a blackhole for the NOC; rollback puts a backup back.

The module leaves the lab WAN configured, saved and converged: later lab tests rely on it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from egov.connection import lab_name
from network.archive import default_root

pytestmark = pytest.mark.lab

EGOV = str(Path(sys.executable).parent / "egov")
STOPPED = "qn-ty-dong-ngu-r1"    # a commune router stopped during the first push
CHANGED = "qn-dh-quang-tan-r1"   # a commune router that gets a bad change


def _net(lab: Any, *args: str, inventory: Path | None = None) -> tuple[int, dict[str, Any]]:
    """Run `egov net ARGS --json` against the lab (or a variant of its inventory); (exit code, JSON)."""
    env = {**os.environ, "EGOV_LAB_NAME": lab_name(lab.inventory.path)}
    proc = subprocess.run([EGOV, "net", *args, "-i", str(inventory or lab.inventory.path), "--json"],
                          check=False, capture_output=True, text=True, env=env, timeout=600)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"egov net {' '.join(args)} (exit {proc.returncode}) printed no JSON:\n{proc.stdout}{proc.stderr}")


def _variant(lab: Any, tmp_path: Path, router: str, vars_: str) -> Path:
    """A copy of the lab inventory where ``router`` has the given vars (flow-style YAML)."""
    text = Path(lab.inventory.path).read_text(encoding="utf-8")
    changed = re.sub(rf"\{{name: {router}, ", f"{{name: {router}, vars: {vars_}, ", text, count=1)
    assert changed != text, f"{router} not found in the lab inventory"
    path = tmp_path / Path(lab.inventory.path).name
    path.write_text(changed, encoding="utf-8")
    return path


def _running(lab: Any, router: str) -> str:
    rc, out = lab.exec(router, "vtysh -c 'show running-config'")
    assert rc == 0, out
    return out


def _converged(lab: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        rc, report = _net(lab, "check")
        if rc == 0 or time.monotonic() > deadline:
            return report
        time.sleep(2)


def test_routers_start_management_only(lab: Any) -> None:
    if any("router ospf" in _running(lab, name) for name in lab.inventory.routers):
        pytest.skip("the lab's routers already carry a WAN configuration (lab not fresh)")
    for name in lab.inventory.routers:
        assert "router ospf" not in _running(lab, name)


def test_push_reports_a_router_stopped_mid_push_and_configures_the_others(lab: Any, tmp_path: Path) -> None:
    """STOPPED's container is stopped once the push has backed it up (connected, read its configuration);
    every router has a change to apply (the SPF timers of a variant inventory), so STOPPED is mid-push."""
    variant = _variant(lab, tmp_path, "qn-core1", "{}").read_text(encoding="utf-8").replace(
        "  network__ospf_dead: 3\n", "  network__ospf_dead: 3\n  network__ospf_spf_throttle: [150, 1000, 10000]\n")
    (tmp_path / "variant.yml").write_text(variant, encoding="utf-8")
    backups = default_root(lab.inventory) / STOPPED
    before = set(backups.glob("*.cfg"))
    env = {**os.environ, "EGOV_LAB_NAME": lab_name(lab.inventory.path)}
    # --max-fail 1: STOPPED's batch may fail once, so that the rollout goes on to qn-core2's batch
    push = subprocess.Popen([EGOV, "net", "push", "-i", str(tmp_path / "variant.yml"), "--json",
                             "--check-timeout", "90", "--max-fail", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not set(backups.glob("*.cfg")) - before and push.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        lab.stop_node(STOPPED)
        out, err = push.communicate(timeout=600)
    finally:
        if push.poll() is None:
            push.kill()
        lab.start_node(STOPPED)
    report = json.loads(out)
    assert push.returncode == 1, err
    assert report["failed_targets"] == [STOPPED], report
    for name, result in report["results"].items():
        if name != STOPPED:
            assert result["data"]["status"] == "changed", (name, result)
    # never saved: the restarted router came back with its saved configuration, not the variant
    assert "timers throttle spf 150" not in _running(lab, STOPPED)


def test_push_again_configures_the_restarted_router_and_the_wan_converges(lab: Any) -> None:
    rc, report = _net(lab, "push")
    assert rc == 0, report
    assert report["results"][STOPPED]["data"]["status"] in ("changed", "no changes")
    check = _converged(lab)
    assert not check["failed"], check
    core = "qn-core1"
    communes = [r for r in lab.inventory.routers.values() if lab.inventory.sites[r.site].level == "commune"]
    assert communes
    for router in communes:
        rc, out = lab.exec(core, f"ping -c 2 -W 2 {router.loopback}")
        assert rc == 0, f"{core} cannot reach {router.name} at {router.loopback}: {out}"


def test_second_push_is_a_no_op(lab: Any) -> None:
    rc, report = _net(lab, "push")
    assert rc == 0
    assert report["changed_targets"] == []
    assert {r["data"]["status"] for r in report["results"].values()} == {"no changes"}
    rc, diff = _net(lab, "diff")
    assert rc == 0 and all(r["diff"] == "" for r in diff["results"].values())


def _ospf_json(lab: Any, router: str, command: str) -> dict[str, Any]:
    rc, out = lab.exec(router, f"vtysh -c '{command} json'")
    assert rc == 0, out
    return json.loads(out)


def test_ospf_authentication_is_on_and_every_adjacency_full(lab: Any) -> None:
    """Every WAN interface authenticates its OSPF packets (MD5: FRR 8.4 has no OSPFv2 key chains) and
    every inventory neighbour is Full over it."""
    inv = lab.inventory
    for router in inv.routers.values():
        interfaces = _ospf_json(lab, router.name, "show ip ospf interface")["interfaces"]
        for port in router.interfaces:
            assert interfaces[port.name]["authentication"] == "authenticationMessageDigest", (router.name, port.name)
            assert interfaces[port.name]["nbrAdjacentCount"] == 1, (router.name, port.name)
        neighbours = _ospf_json(lab, router.name, "show ip ospf neighbor")["neighbors"]
        for port in router.interfaces:
            rid = str(inv.routers[port.peer].loopback)
            assert any(n["converged"] == "Full" for n in neighbours.get(rid, [])), (router.name, port.peer)


def test_a_router_with_another_ospf_key_is_rolled_back(lab: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Authentication is enforced: a commune router given a key its district does not hold loses its
    adjacency, and the push's post-check restores it."""
    commune = next(r.name for r in lab.inventory.routers.values() if lab.inventory.sites[r.site].level == "commune")
    monkeypatch.setenv("EGOV_SECRET_OSPF_KEY_OTHER", "another-key-0123")
    bad = _variant(lab, tmp_path, commune, "{network__ospf_auth_keys: [{id: 1, secret: ospf_key_other}]}")
    rc, report = _net(lab, "push", "--limit", commune, "--check-timeout", "10", inventory=bad)
    assert rc == 1, report
    result = report["results"][commune]
    assert result["data"]["status"] == "rolled back" and "post-check failed" in result["error"]
    assert "another-key-0123" not in json.dumps(report)   # the key is redacted from the report
    assert "another-key-0123" not in _running(lab, commune)
    assert not _converged(lab)["failed"]


def test_change_that_breaks_adjacency_is_rolled_back(lab: Any, tmp_path: Path) -> None:
    bad = _variant(lab, tmp_path, CHANGED, "{network__ospf_hello: 2, network__ospf_dead: 6}")
    rc, report = _net(lab, "push", "--limit", CHANGED, "--check-timeout", "10", inventory=bad)
    assert rc == 1
    result = report["results"][CHANGED]
    assert result["data"]["status"] == "rolled back"
    assert "post-check failed" in result["error"] and "restored" in result["error"]
    assert "hello-interval 2" in result["diff"]
    assert "hello-interval 2" not in _running(lab, CHANGED)
    rc, saved = lab.exec(CHANGED, "cat /etc/frr/frr.conf")
    assert "hello-interval 2" not in saved
    assert not _converged(lab)["failed"]


def test_lockout_guard_refuses_a_blackhole_for_the_noc(lab: Any, tmp_path: Path) -> None:
    noc = lab.inventory.noc_networks[0]
    bad = _variant(lab, tmp_path, "qn-ty-r1", f"{{network__static_routes: [{{prefix: '{noc}', next_hop: blackhole}}]}}")
    rc, report = _net(lab, "push", "--limit", "qn-ty-r1", inventory=bad)
    assert rc == 1
    result = report["results"]["qn-ty-r1"]
    assert result["data"]["status"] == "refused" and "lock-out guard" in result["error"] and str(noc) in result["error"]
    assert f"ip route {noc}" not in _running(lab, "qn-ty-r1")


def test_backup_and_rollback_then_push_back(lab: Any) -> None:
    rc, report = _net(lab, "backup", "--limit", CHANGED)
    assert rc == 0
    newest = Path(report["results"][CHANGED]["data"]["backup"])
    password = yaml.safe_load(lab.connection.secrets_file.read_text(encoding="utf-8"))["router_password"]
    assert newest.is_file() and newest.parent.name == CHANGED and password not in str(newest)
    # the oldest backup of a fresh lab is the management-only configuration
    oldest = min(newest.parent.glob("*.cfg"))
    if "router ospf" not in oldest.read_text(encoding="utf-8"):
        rc, report = _net(lab, "rollback", CHANGED, "--to", oldest.name)
        assert rc == 0, report
        assert "router ospf" not in _running(lab, CHANGED)
    rc, report = _net(lab, "push")
    assert rc == 0, report
    assert not _converged(lab)["failed"]
