"""Last of the lab tests: `lab down` leaves nothing of the lab behind."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lab


def _docker_names(*args: str) -> list[str]:
    return subprocess.run(["docker", *args, "--format", "{{.Name}}" if args[0] == "network" else "{{.Names}}"],
                          capture_output=True, text=True, check=True).stdout.split()


def test_down_leaves_nothing(lab: Any) -> None:
    from lab import leftovers
    from lab.docker_net import bridge_name
    from lab.proxy import running_pid

    containers = [n.container for n in lab.plan.nodes.values()]
    pids = [subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", c], capture_output=True, text=True,
                           check=True).stdout.strip() for c in containers]
    assert running_pid(lab.proxy) is not None  # the lab's own apt-cacher-ng ran until now

    report = lab.down()

    assert {f"container {c}" for c in containers} <= set(report.removed)
    assert not set(containers) & set(_docker_names("ps", "-a"))
    assert not {n.name for n in lab.plan.networks} & set(_docker_names("network", "ls"))
    bridges = [bridge_name(n.name) for n in lab.plan.networks]
    assert not [b for b in bridges if Path(f"/sys/class/net/{b}").exists()]
    # the routers' namespaces (and with them every WAN veth) are gone
    assert not [p for p in pids if Path(f"/proc/{p}/ns/net").exists()]
    rules = subprocess.run(["iptables", "-S", "DOCKER-USER"], capture_output=True, text=True, check=True).stdout
    assert f"egov.lab:{lab.name}" not in rules
    assert running_pid(lab.proxy) is None
    assert leftovers(lab.owner, lab.proxy, bridges) == []
    again = lab.down()
    assert again.removed == []
