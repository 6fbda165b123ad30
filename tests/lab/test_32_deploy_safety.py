"""Deploys that are interrupted, run twice at once, or roll over the redundant pairs, on the lab
hosts test_30_deploy.py deployed.

- a deploy killed (SIGKILL, the whole process group) right after checked_file's rename, before the
  reload: the live file is the new, checked one; the re-run reloads it and the service serves it;
- a second deploy while one runs: refused before it touches a host, naming the first;
- a rolling deploy of the lb/web pair, both members changed: the VIP answers every probe throughout;
- a rolling deploy of the db pair, both members restarted: one of the two always accepts connections,
  and the primary stays the primary.

Each test puts back what it changes (the deploys themselves restore the files it tampers with).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from deploys.ops.config import HOLD_AFTER_RENAME_ENV, HOLD_FILE, pending_marker
from deploys.runner import Progress, run_deploy
from deploys.sessions import LOCK_FILE, LockHeld
from egov.results import RunResult
from inventory.services import WEB_PORT, vip

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEB_SITE = "/etc/nginx/sites-enabled/egov.conf"
GET = "import ssl, sys, urllib.request as r; print(r.urlopen(sys.argv[1], timeout=5, " \
      "context=ssl._create_unverified_context()).read().decode().strip())"


def _problems(result: RunResult) -> str:
    return "; ".join(f"{n}: {r.error}" for n, r in result.items() if r.failed)


def _wait(what: str, check: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.3)


def _healthz(lab: Any, host: str) -> str:
    return lab.exec(host, f"python3 -c {shlex.quote(GET)} https://127.0.0.1:{WEB_PORT}/healthz")[1].strip()


def _cli_deploy(lab: Any, limit: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``egov deploy --limit LIMIT`` as an operator starts it, in its own process group (killed whole)."""
    argv = [sys.executable, "cli.py", "deploy", "-i", str(lab.inventory.path), "--limit", limit, "--json"]
    return subprocess.Popen(argv, cwd=REPO, env={**os.environ, "PYTHONPATH": REPO, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_killed_after_the_rename_converges_on_the_rerun(lab: Any) -> None:
    host = lab.inventory.hosts_with_role("web")[0].name
    # the running nginx serves a config the deploy will replace: its /healthz says so
    tamper = f"sed -i 's/return 200 \"ok\\\\n\"/return 200 \"tampered\\\\n\"/' {WEB_SITE} && systemctl reload nginx"
    assert lab.exec(host, tamper)[0] == 0
    _wait("nginx serving the tampered config", lambda: _healthz(lab, host) == "tampered", 20)
    proc = _cli_deploy(lab, host, {HOLD_AFTER_RENAME_ENV: WEB_SITE})
    try:
        _wait("the deploy at the rename", lambda: lab.exec(host, f"test -e {HOLD_FILE}")[0] == 0)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        lab.exec(host, f"rm -f {HOLD_FILE}")
    # killed between the rename and the reload: the live file is the checked one, the reload is owed
    assert lab.exec(host, f"grep -c 'tampered' {WEB_SITE}")[1].strip() == "0"
    assert lab.exec(host, "nginx -t -q")[0] == 0
    assert lab.exec(host, f"test -e {shlex.quote(pending_marker(WEB_SITE))}")[0] == 0
    assert _healthz(lab, host) == "tampered"
    assert lab.exec(host, f"ls -a {os.path.dirname(WEB_SITE)} | grep -c '^.egov-'")[1].strip() == "0"

    result = run_deploy(lab.inventory, [host])
    assert not result.failed, _problems(result)
    assert any("nginx: TLS reverse proxy" in op for op in result[host].data["changed_ops"])
    assert _healthz(lab, host) == "ok"
    assert lab.exec(host, f"test -e {shlex.quote(pending_marker(WEB_SITE))}")[0] != 0


def test_a_second_deploy_at_once_is_refused(lab: Any) -> None:
    host = lab.inventory.hosts_with_role("web")[0].name
    first = _cli_deploy(lab, host)
    try:
        _wait("the first deploy holding the lock",
              lambda: lab.exec(host, f"! flock -n {LOCK_FILE} true")[0] == 0, 60)
        started = time.monotonic()
        with pytest.raises(LockHeld) as refused:
            run_deploy(lab.inventory, [host])
        assert time.monotonic() - started < 15  # refused up front, not after a deploy
        message = str(refused.value)
        assert host in message and LOCK_FILE in message and "egov deploy run" in message
        assert f"pid {first.pid}" in message  # the holder named: the first run's own process
    finally:
        out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, out[-2000:]
    # the lock went with the first run
    assert lab.exec(host, f"flock -n {LOCK_FILE} true")[0] == 0


def _background(lab: Any, host: str, name: str, script: str) -> Callable[[], str]:
    """Start ``script`` (python3) on ``host`` in the background until stopped; the stopper returns
    what it printed."""
    out, stop = f"/run/egov-test-{name}.out", f"/run/egov-test-{name}.stop"
    lab.exec(host, f"rm -f {out} {stop}; nohup python3 -c {shlex.quote(script)} {stop} > {out} 2>&1 &")

    def stopper() -> str:
        lab.exec(host, f"touch {stop}")
        _wait(f"{name} probe ending", lambda: lab.exec(host, f"grep -q '^end' {out}")[0] == 0, 30)
        text = lab.exec(host, f"cat {out}; rm -f {out} {stop}")[1]
        return text

    return stopper


def _tamper(lab: Any, hosts: list[str], path: str) -> None:
    for host in hosts:
        assert lab.exec(host, f"echo '# changed by test_32' >> {path}")[0] == 0


def _rolled(events: list[Progress], pair: list[str]) -> None:
    """The members' operations never overlap: whenever the operations pass from one member to the
    other, the member before had been checked healthy in between."""
    current, checked, changed = "", False, set()
    for e in events:
        if e.kind == "health" and e.host == current:
            checked = checked or e.status == "ok"
        elif e.kind == "op" and e.host in pair:
            changed.add(e.host)
            if current and e.host != current:
                assert checked, f"{e.host} changed before {current} was checked healthy"
            if e.host != current:
                current, checked = e.host, False
    assert changed == set(pair), f"not every member changed: {changed}"


VIP_PROBE = """
import os, ssl, sys, time, urllib.request as r
url, stop = sys.argv[2], sys.argv[1]
ok = failed = 0
errors = []
ctx = ssl._create_unverified_context()
while not os.path.exists(stop):
    try:
        r.urlopen(url, timeout=3, context=ctx).read()
        ok += 1
    except Exception as exc:
        failed += 1
        errors.append(f"{time.time():.1f} {exc}")
    time.sleep(0.1)
print("errors", errors[:5])
print("end", ok, failed)
"""


def test_rolling_the_lb_web_pair_keeps_the_vip_answering(lab: Any) -> None:
    inv = lab.inventory
    pair = [h.name for h in inv.hosts_with_role("lb")]
    prober = next(h.name for h in inv.hosts.values() if h.name not in pair and h.server_ip)
    _tamper(lab, pair, "/etc/haproxy/haproxy.cfg")
    _tamper(lab, pair, WEB_SITE)
    script = VIP_PROBE.replace("sys.argv[2]", repr(f"https://{vip(inv)}/healthz"))
    stop = _background(lab, prober, "vip", script)
    events: list[Progress] = []
    try:
        time.sleep(1)
        result = run_deploy(inv, pair, on_progress=events.append)
    finally:
        report = stop()
    assert not result.failed, _problems(result)
    assert all(r.data["changes"] >= 2 for r in result.values()), {n: r.data["changed_ops"] for n, r in result.items()}
    _rolled(events, pair)
    ok, failed = (int(n) for n in report.split("end")[-1].split())
    assert failed == 0 and ok > 20, report


DB_PROBE = """
import os, subprocess, sys, time
stop, addresses = sys.argv[1], ADDRESSES
rounds = both_down = 0
while not os.path.exists(stop):
    up = [subprocess.run(["pg_isready", "-q", "-h", a, "-t", "2"]).returncode == 0 for a in addresses]
    rounds += 1
    both_down += not any(up)
    time.sleep(0.1)
print("end", rounds, both_down)
"""


def test_rolling_the_db_pair_keeps_a_server_answering(lab: Any) -> None:
    inv = lab.inventory
    db1, db2 = (h.name for h in inv.hosts_with_role("db"))
    conf = "/etc/postgresql/15/main/conf.d/egov.conf"
    _tamper(lab, [db1, db2], conf)  # a settings change: each server restarts on it
    script = DB_PROBE.replace("ADDRESSES", repr([str(inv.hosts[n].mgmt_ip) for n in (db1, db2)]))
    stop = _background(lab, db1, "db", script)
    events: list[Progress] = []
    try:
        time.sleep(1)
        result = run_deploy(inv, [db1, db2], on_progress=events.append)
    finally:
        report = stop()
    assert not result.failed, _problems(result)
    assert all("postgresql settings" in " ".join(r.data["changed_ops"]) for r in result.values())
    _rolled(events, [db1, db2])
    rounds, both_down = (int(n) for n in report.split("end")[-1].split())
    assert rounds > 10 and both_down == 0, report
    sql = "runuser -u postgres -- psql -XAtc 'select pg_is_in_recovery()'"
    assert lab.exec(db1, sql)[1].strip() == "f" and lab.exec(db2, sql)[1].strip() == "t"
