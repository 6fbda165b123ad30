"""Deploys on the lab: every host from bare images, a second run with zero changes, a host that is
down while the others finish, and a config the service's checker refuses never going live.

Leaves the lab hosts deployed: the verify and monitoring tests after this file use them.
"""

from __future__ import annotations

import shlex
import time
from typing import Any

import pytest

from deploys.runner import Progress, run_deploy
from egov.results import RunResult

pytestmark = pytest.mark.lab

FIRST: dict[str, Any] = {}


def _deploy(lab: Any, limits: tuple[str, ...] = ()) -> tuple[RunResult, list[Progress], float]:
    events: list[Progress] = []
    started = time.monotonic()
    result = run_deploy(lab.inventory, limits, on_progress=events.append)
    return result, events, time.monotonic() - started


def _problems(result: RunResult) -> str:
    return "; ".join(f"{n}: {r.error}" for n, r in result.items() if r.failed)


def test_first_deploy_every_host(lab: Any) -> None:
    result, events, seconds = _deploy(lab)
    FIRST["seconds"] = seconds
    assert set(result) == set(lab.inventory.hosts)
    assert not result.failed, _problems(result)
    # progress came per host (plan, done) and per operation on every host that had work to do
    assert {e.host for e in events if e.kind == "plan"} == set(lab.inventory.hosts)
    assert {e.host for e in events if e.kind == "done"} == set(lab.inventory.hosts)
    busy = {n for n, r in result.items() if r.data["changes"]}
    assert busy <= {e.host for e in events if e.kind == "op"}
    assert all(r.data["ops"] > 20 for r in result.values())


def test_second_run_changes_nothing(lab: Any) -> None:
    result, _events, seconds = _deploy(lab)
    assert not result.failed, _problems(result)
    changed = {n: r.data["changes"] for n, r in result.items() if r.data["changes"]}
    assert changed == {}
    # the facts came in a few batches per host (deploys/fact_cache.py), hardly any one by one: the
    # commands the first deploy asked with the first, what its changes led to (a filled directory's
    # files) with a rehearsal's
    for name, r in result.items():
        facts = r.data["facts"]
        assert facts["round trips"] <= 6 and facts.get("live", 0) * 20 <= facts["answered"], f"{name}: {facts}"
    # the run after, on memos of hosts that stayed as they were, does not rehearse: one batch per host
    # (two for a batch past BATCH_CHARS)
    again, _events, settled = _deploy(lab)
    assert not again.failed and not any(r.data["changes"] for r in again.values()), _problems(again)
    for name, r in again.items():
        facts = r.data["facts"]
        assert facts["round trips"] <= 2 and facts.get("live", 0) * 20 <= facts["answered"], f"{name}: {facts}"
    print(f"first deploy {FIRST.get('seconds', 0):.0f} s, no-op re-runs {seconds:.0f} s and {settled:.0f} s")


def test_merged_unit_facts_answer_as_each_line_would(lab: Any) -> None:
    """``systemctl show`` over many units (deploys/fact_merge.py) on a real systemd: each unit's
    block is what its own pyinfra command prints, an unknown unit's included."""
    from pyinfra.api import Config, Inventory, State
    from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus

    from deploys import fact_merge
    from deploys import pyinfra_internals as internals
    from egov.batch import batch_script, parse_batch

    inventory = Inventory((["@local"], {}))
    state = State(check_for_changes=True)
    state.init(inventory, Config())
    host = inventory.get_host("@local")  # only to make pyinfra's lines: they are run on the lab host
    units = ["ssh.service", "chrony.service", "egov-no-such.service", "cron.service", "nftables.service"]
    lines = [line for fact in (SystemdStatus, SystemdEnabled) for unit in units
             if (line := internals.fact_command(state, host, fact, kwargs={"services": unit})[1])]
    alone, merged = fact_merge.merge(state, host, lines)
    assert alone == [] and len(merged) == 2
    name = next(iter(lab.inventory.hosts))

    def run(batch: list[str]) -> dict[str, Any]:
        rc, out = lab.exec(name, ["sh", "-c", batch_script(batch)])
        assert rc == 0
        return parse_batch(batch, out)

    one_by_one, together = run(lines), run([m.command for m in merged])
    answered = {line: a for m in merged for line, a in m.answer(together[m.command]).items()}
    assert answered == one_by_one and len(answered) == 2 * len(units)


def test_hosts_are_hardened_and_serving(lab: Any) -> None:
    inv = lab.inventory
    for name in inv.hosts:
        rc, out = lab.exec(name, "sshd -T")
        assert rc == 0 and "passwordauthentication no" in out and "permitrootlogin without-password" in out
        rc, out = lab.exec(name, "nft list chain inet egov input")
        assert rc == 0 and "policy drop" in out
        rc, out = lab.exec(name, "chronyc -n sources")
        assert rc == 0 and ("^" in out or "=" in out), f"{name}: chrony has no sources"
        rc, out = lab.exec(name, "systemctl is-active rsyslog chrony nftables ssh")
        assert out.split() == ["active"] * 4, f"{name}: {out}"
        # the default admin (inventory/defaults/base.yml): sudo through its group, a key to log in
        rc, out = lab.exec(name, "id -nG egovadmin && test -s /home/egovadmin/.ssh/authorized_keys && "
                                 "visudo -cf /etc/sudoers.d/egov-admins")
        assert rc == 0 and "egov-admins" in out.split("\n")[0].split(), f"{name}: {out}"
    db1, db2 = (h.name for h in inv.hosts_with_role("db"))
    assert lab.exec(db1, "runuser -u postgres -- psql -XAtc 'select pg_is_in_recovery()'")[1].strip() == "f"
    assert lab.exec(db2, "runuser -u postgres -- psql -XAtc 'select pg_is_in_recovery()'")[1].strip() == "t"
    # each DNS server answers the internal zone (a raw query: no dig on the hosts)
    for dns in inv.hosts_with_role("dns"):
        assert _resolve(str(dns.mgmt_ip), f"{db1}.{inv.province.domain}") == str(inv.hosts[db1].server_ip)
    backup = inv.hosts_with_role("backup")[0].name
    rc, out = lab.exec(backup, "tail -n 4 /var/backups/egov/restore-test.log")
    assert rc == 0 and " OK " in out, out


def _resolve(server: str, name: str) -> str:
    """The first A record for ``name`` from ``server`` (one UDP query, RFC 1035 wire format)."""
    import socket
    import struct

    query = struct.pack(">HHHHHH", 0x4567, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(query, (server, 53))
        answer = s.recv(512)
    assert struct.unpack(">H", answer[6:8])[0] >= 1, f"{server}: no answer for {name}"
    return socket.inet_ntoa(answer[-4:])


def test_refused_config_never_goes_live(lab: Any) -> None:
    """checked_file's check of the side file: sshd -t refuses it, nothing goes live, the step fails."""
    from deploys.ops.config import checked_file
    from tests.unit.test_deploys_ops import run  # the same facts-in, commands-out harness

    node = next(iter(lab.inventory.hosts))
    path = "/etc/ssh/sshd_config.d/50-egov-test.conf"
    commands, _ = run(checked_file, {}, path=path, content="NoSuchOption yes\n", check="sshd -t",
                      reload="systemctl reload ssh")
    side = commands[1].dest
    assert lab.exec(node, f"{commands[0]} && printf 'NoSuchOption yes\\n' > {shlex.quote(side)}")[0] == 0
    rc, _out = lab.exec(node, commands[3])  # sshd -t reads the side file as if it were live
    assert rc != 0
    assert lab.exec(node, f"test -e {path}")[0] != 0, "the refused file went live"
    assert lab.exec(node, f"test -e {shlex.quote(side)}")[0] != 0, "the refused side file stayed"
    assert lab.exec(node, "sshd -t")[0] == 0


def test_host_down_is_reported_and_the_others_finish(lab: Any) -> None:
    victim = lab.inventory.hosts_with_role("district_node")[-1].name
    lab.stop_node(victim)
    try:
        result, _events, _seconds = _deploy(lab)
        assert result.failed_targets == [victim]
        assert "connect" in result[victim].error
        assert all(r.data["changes"] == 0 for n, r in result.items() if n != victim)
    finally:
        lab.start_node(victim)
    result, _events, _seconds = _deploy(lab, (victim,))
    assert not result.failed, _problems(result)
    result, _events, _seconds = _deploy(lab, (victim,))
    assert result[victim].data["changes"] == 0
