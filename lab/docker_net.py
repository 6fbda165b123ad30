"""Lab networks (internal Docker bridges) and the one firewall exception they need.

Docker's ``--internal`` rules drop any bridged packet whose destination lies outside the
bridge's subnet, even between two containers on the same bridge: a host could not reach a
remote site through its own router. One rule per lab bridge accepts traffic that enters and
leaves by that same bridge, and nothing else, so nothing is routed out of the machine.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from typing import Any

from egov.errors import LabError
from lab.engine import docker, run
from lab.labels import LABEL, Owner
from lab.layout import NetworkSpec


def bridge_name(network: str) -> str:
    """A stable Linux bridge name (15 characters at most) for a lab network."""
    return "egl-" + hashlib.sha256(network.encode()).hexdigest()[:10]


def inspect_networks(names: list[str]) -> dict[str, dict[str, Any]]:
    """The given networks that exist, by name, as ``docker network inspect`` reports them."""
    if not names:
        return {}
    proc = docker("network", "inspect", *names, check=False)
    return {info["Name"]: info for info in json.loads(proc.stdout or "[]")}


def ensure_network(spec: NetworkSpec, owner: Owner) -> bool:
    """Create the internal network unless this lab's exists as planned. True when created.
    A network of that name that is not this lab's is refused, never changed."""
    info = inspect_networks([spec.name]).get(spec.name)
    if info is not None:
        if not owner.owns(info.get("Labels")):
            raise owner.refuse("network", spec.name, info.get("Labels"))
        config = (info.get("IPAM", {}).get("Config") or [{}])[0]
        have = (info.get("Internal"), config.get("Subnet"), config.get("Gateway"))
        want = (True, str(spec.subnet), str(spec.gateway))
        if have != want:
            raise LabError(f"network {spec.name} exists but differs from the inventory's plan "
                           f"(internal, subnet, gateway = {have}, expected {want}): run `egov lab down` first")
        return False
    proc = docker("network", "create", "--internal", "--driver", "bridge", "--subnet", str(spec.subnet),
                  "--gateway", str(spec.gateway), *owner.labels(),
                  "-o", f"com.docker.network.bridge.name={bridge_name(spec.name)}", spec.name, check=False)
    if proc.returncode != 0:
        # typically "Pool overlaps": another lab (or network) already uses this inventory's supernet
        raise LabError(f"cannot create network {spec.name} ({spec.subnet}): {proc.stderr.strip()}")
    return True


def _rule(spec: NetworkSpec, lab: str) -> list[str]:
    bridge = bridge_name(spec.name)
    return ["DOCKER-USER", "-i", bridge, "-o", bridge, "-m", "comment", "--comment", f"{LABEL}:{lab}", "-j", "ACCEPT"]


def ensure_bridge_rule(spec: NetworkSpec, lab: str) -> bool:
    """Let traffic between nodes of one lab bridge through, whatever its addresses. True when added."""
    if run(["iptables", "-C", *_rule(spec, lab)], check=False).returncode == 0:
        return False
    run(["iptables", "-I", *_rule(spec, lab)])
    return True


def lab_networks(owner: Owner) -> list[str]:
    """The lab's own networks (by label), by name."""
    out = docker("network", "ls", "-q", "--no-trunc", *owner.filter()).stdout.split()
    found = docker("network", "inspect", *out, check=False).stdout if out else "[]"
    return [info["Name"] for info in json.loads(found or "[]") if owner.owns(info.get("Labels"))]


def lab_rules(lab: str) -> list[list[str]]:
    """This lab's firewall rules, as iptables -S prints them (``-A DOCKER-USER ...``)."""
    out = run(["iptables", "-S", "DOCKER-USER"], check=False).stdout
    rules = [shlex.split(line) for line in out.splitlines()]  # -S quotes the comment
    return [rule for rule in rules if f"{LABEL}:{lab}" in rule]


def remove_networks(owner: Owner) -> tuple[list[str], list[str]]:
    """Remove the lab's networks and firewall rules; returns (what was removed, why some could not be).
    One network that cannot go never keeps the others."""
    removed, problems = [], []
    for rule in lab_rules(owner.name):
        run(["iptables", "-D", *rule[1:]])
        removed.append("firewall rule " + " ".join(rule[1:6]))
    for name in lab_networks(owner):
        try:
            remove_network(name)
            removed.append(f"network {name}")
        except LabError as exc:
            problems.append(str(exc))
    return removed, problems


def remove_network(name: str, attempts: int = 5) -> None:
    """Remove one network, waiting out Docker's endpoint clean-up after its containers went."""
    for attempt in range(attempts):
        proc = docker("network", "rm", name, check=False)
        if proc.returncode == 0:
            return
        if "active endpoints" not in proc.stderr:
            raise LabError(f"cannot remove network {name}: {proc.stderr.strip()}")
        time.sleep(1 + attempt)
    containers = docker("network", "inspect", "-f", "{{len .Containers}}", name, check=False).stdout.strip()
    raise LabError(
        f"cannot remove network {name}: Docker still counts an endpoint on it"
        + (" though no container is attached (a Docker 20.10 bug, moby/moby#42119: only a restart of dockerd "
           "clears it; `lab up` still works on it)" if containers == "0" else f" ({containers} containers attached)"))
