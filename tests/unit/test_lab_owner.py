"""The lab touches only its own: objects found by label, name collisions refused, lab names checked.

A fake Docker engine (the CLI's answers for ps, inspect, create, rm, network ...) holds containers
and networks of several labs and hand-made ones; the lab code runs against it unchanged. The same
behaviour is tried for real with two labs side by side (docs/lab.md, "Several labs").
"""

from __future__ import annotations

import itertools
import json
import subprocess
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest

from egov.connection import lab_name, lab_state_dir
from egov.errors import InputError, LabError
from inventory import load_inventory
from lab import core, docker_net, nodes
from lab.labels import LABEL, STATE_LABEL, Owner

LAB_YML = Path(__file__).resolve().parents[2] / "inventory" / "lab.yml"


class FakeDocker:
    """What the lab asks the docker CLI, answered from two dicts; every mutating call is recorded."""

    def __init__(self) -> None:
        self.containers: dict[str, dict[str, Any]] = {}  # id -> name, labels, running
        self.networks: dict[str, dict[str, Any]] = {}  # name -> labels, subnet, gateway
        self.calls: list[list[str]] = []
        self._ids = itertools.count(1)

    def add(self, name: str, labels: dict[str, str], running: bool = True) -> str:
        cid = f"{next(self._ids):064x}"
        self.containers[cid] = {"name": name, "labels": labels, "running": running}
        return cid

    def _ref(self, ref: str) -> str | None:
        return next((cid for cid, c in self.containers.items() if ref in (cid, c["name"])), None)

    @staticmethod
    def _matches(labels: dict[str, str], filters: list[str]) -> bool:
        for f in filters:
            key, _, value = f.removeprefix("label=").partition("=")
            if labels.get(key) != value:
                return False
        return True

    def __call__(self, *args: str, check: bool = True, **_: Any) -> subprocess.CompletedProcess[str]:
        argv = list(args)
        filters = [argv[i + 1] for i, a in enumerate(argv) if a == "--filter"]
        out, rc = "", 0
        if argv[:2] == ["ps", "-a"]:
            out = "\n".join(cid for cid, c in self.containers.items() if self._matches(c["labels"], filters))
        elif argv[:3] == ["inspect", "--type", "container"]:
            found = [cid for ref in argv[3:] if (cid := self._ref(ref))]
            out = json.dumps([{"Id": cid, "Name": "/" + self.containers[cid]["name"],
                               "State": {"Running": self.containers[cid]["running"], "Pid": 4242},
                               "Config": {"Labels": self.containers[cid]["labels"]}} for cid in found])
            rc = 0 if len(found) == len(argv) - 3 else 1
        elif argv[:2] == ["rm", "-f"]:
            self.calls.append(argv)
            self.containers.pop(self._ref(argv[2]) or "", None)
        elif argv[0] == "create":
            self.calls.append(argv)
            name = argv[argv.index("--name") + 1]
            if self._ref(name):
                out, rc = "", 125  # Docker: Conflict. The container name is already in use
            else:
                labels = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--label")
                out = self.add(name, labels, running=False)
        elif argv[:2] == ["network", "inspect"]:
            found = [n for n in argv[2:] if n in self.networks]
            out = json.dumps([{"Name": n, "Id": n, "Labels": self.networks[n]["labels"], "Internal": True,
                               "IPAM": {"Config": [{"Subnet": self.networks[n]["subnet"],
                                                    "Gateway": self.networks[n]["gateway"]}]}} for n in found])
        elif argv[:2] == ["network", "ls"]:
            out = "\n".join(n for n, net in self.networks.items() if self._matches(net["labels"], filters))
        elif argv[:2] == ["network", "rm"]:
            self.calls.append(argv)
            self.networks.pop(argv[2])
        else:  # start, stop, cp, exec, network create/connect: recorded, nothing to answer
            self.calls.append(argv)
        if check and rc:
            raise LabError(f"docker {' '.join(argv[:4])} failed: exit {rc}")
        return subprocess.CompletedProcess(argv, rc, out, "")


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeDocker:
    engine = FakeDocker()
    for module in (core, nodes, docker_net):
        monkeypatch.setattr(module, "docker", engine)
    no_output = subprocess.CompletedProcess([], 0, "", "")
    monkeypatch.setattr(docker_net, "run", lambda *a, **k: no_output)  # iptables: no rules
    monkeypatch.setattr(nodes, "run", lambda *a, **k: no_output)  # ip link: no stray veth
    monkeypatch.setattr(core, "engine_answers", lambda: True)
    monkeypatch.setattr(core, "ensure_engine", lambda *a: False)
    monkeypatch.setenv("EGOV_LAB_DIR", str(tmp_path / "labs"))
    return engine


def _lab(monkeypatch: pytest.MonkeyPatch, name: str) -> core.Lab:
    monkeypatch.setenv("EGOV_LAB_NAME", name)
    return core.Lab(load_inventory(LAB_YML))


def _own_labels(lab: core.Lab, node: str) -> dict[str, str]:
    return {LABEL: lab.name, STATE_LABEL: str(lab.state_dir), nodes.NODE_LABEL: node}


@pytest.mark.parametrize("bad", ["../../../etc", "a/b", "Lab", "lab_2", "-lab", "lab-", "a" * 33, "lab.x", "ü"])
def test_a_lab_name_that_is_not_plain_is_refused(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGOV_LAB_NAME", bad)
    with pytest.raises(InputError, match=r"\$EGOV_LAB_NAME: lab name .* is not a plain name") as info:
        lab_state_dir("inventory/lab.yml")
    assert info.value.exit_code == 2


def test_a_plain_lab_name_and_an_inventory_stem(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EGOV_LAB_DIR", str(tmp_path))
    monkeypatch.setenv("EGOV_LAB_NAME", "redact-a-b")
    assert lab_state_dir("x.yml") == tmp_path / "redact-a-b"
    monkeypatch.delenv("EGOV_LAB_NAME")
    assert lab_name("inventory/quangninh-2025.yml") == "quangninh-2025"
    with pytest.raises(InputError, match=r"My_Lab\.yml \(a lab is named after its inventory's file name"):
        lab_name("/tmp/My_Lab.yml")


def test_up_refuses_another_labs_container_of_the_same_name_and_leaves_it(
        fake: FakeDocker, monkeypatch: pytest.MonkeyPatch) -> None:
    # lab "redact-a" with node "b-<host>" makes the container name lab "redact-a-b" wants for <host>
    lab = _lab(monkeypatch, "redact-a-b")
    host = next(iter(lab.plan.nodes))
    other = fake.add(f"redact-a-b-{host}", {LABEL: "redact-a", STATE_LABEL: "/var/lib/egov-lab/redact-a",
                                            nodes.NODE_LABEL: f"b-{host}"})
    with pytest.raises(LabError) as info:
        lab.up()
    message = str(info.value)
    assert f"container redact-a-b-{host} already exists and is not lab redact-a-b's" in message
    assert "egov.lab=redact-a, egov.lab.state=/var/lib/egov-lab/redact-a" in message
    assert other in fake.containers and fake.calls == []  # nothing created, removed or started


def test_up_refuses_a_hand_made_container_and_network(fake: FakeDocker, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = _lab(monkeypatch, "redact-a")
    host = next(iter(lab.plan.nodes))
    fake.add(f"redact-a-{host}", {})
    fake.networks["redact-a-mgmt"] = {"labels": {}, "subnet": "10.106.0.0/24", "gateway": "10.106.0.1"}
    with pytest.raises(LabError) as info:
        lab.up()
    assert f"container redact-a-{host} already exists and is not lab redact-a's (its owner: no egov.lab label)" \
        in str(info.value)
    assert "network redact-a-mgmt already exists and is not lab redact-a's (its owner: no egov.lab label)" \
        in str(info.value)
    assert fake.calls == [] and len(fake.containers) == 1


def test_a_lab_of_the_same_name_in_another_state_dir_is_not_this_one(
        fake: FakeDocker, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = _lab(monkeypatch, "redact-a")
    host = next(iter(lab.plan.nodes))
    fake.add(f"redact-a-{host}", {LABEL: "redact-a", STATE_LABEL: "/elsewhere", nodes.NODE_LABEL: host})
    assert nodes.find(lab.owner) == {}
    with pytest.raises(LabError, match=r"its owner: egov\.lab=redact-a, egov\.lab\.state=/elsewhere"):
        lab.up()
    assert lab.down().removed == [] and len(fake.containers) == 1


def test_down_removes_only_its_own_by_label(fake: FakeDocker, monkeypatch: pytest.MonkeyPatch) -> None:
    a, ab = _lab(monkeypatch, "redact-a"), _lab(monkeypatch, "redact-a-b")
    host = next(iter(a.plan.nodes))
    mine = fake.add(f"redact-a-{host}", _own_labels(a, host))
    # made before the state label existed: the lab's name alone still makes it this lab's
    legacy = fake.add("redact-a-old", {LABEL: "redact-a", nodes.NODE_LABEL: "old"})
    theirs = fake.add(f"redact-a-b-{host}", _own_labels(ab, host))
    collides = fake.add(f"redact-a-b-{host}x", {LABEL: "redact-a-b", nodes.NODE_LABEL: f"b-{host}x"})
    hand_made = fake.add("redact-a-web", {})
    fake.networks["redact-a-mgmt"] = {"labels": {LABEL: "redact-a"}, "subnet": "", "gateway": ""}
    fake.networks["redact-a-b-mgmt"] = {"labels": {LABEL: "redact-a-b"}, "subnet": "", "gateway": ""}
    report = a.down()
    assert sorted(report.removed) == sorted([f"container redact-a-{host}", "container redact-a-old",
                                             "network redact-a-mgmt"])
    assert set(fake.containers) == {theirs, collides, hand_made} and mine not in fake.containers
    assert legacy not in fake.containers and set(fake.networks) == {"redact-a-b-mgmt"}
    # by id, never by a name another lab may hold
    assert sorted(c[2] for c in fake.calls if c[0] == "rm") == sorted([mine, legacy])


def test_the_lab_addresses_its_own_container_by_id(fake: FakeDocker, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = _lab(monkeypatch, "redact-a-b")
    host = next(iter(lab.plan.nodes))
    fake.add(f"redact-a-b-{host}", {LABEL: "redact-a", nodes.NODE_LABEL: f"b-{host}"})  # the name, not ours
    with pytest.raises(LabError, match=f"node {host} of lab redact-a-b has no container"):
        lab.stop_node(host)
    mine = fake.add(f"renamed-{host}", _own_labels(lab, host))
    lab.stop_node(host)
    assert fake.calls[-1] == ["stop", "--time", "5", mine]


def test_a_network_of_the_same_name_from_another_lab_is_refused(fake: FakeDocker) -> None:
    spec = docker_net.NetworkSpec("redact-a-b-server", IPv4Network("10.106.1.0/24"), IPv4Address("10.106.1.254"),
                                  "server:b")
    fake.networks[spec.name] = {"labels": {LABEL: "redact-a"}, "subnet": "10.106.1.0/24", "gateway": "10.106.1.254"}
    with pytest.raises(LabError, match=r"network redact-a-b-server already exists and is not lab redact-a-b's "
                                       r"\(its owner: egov.lab=redact-a\)"):
        docker_net.ensure_network(spec, Owner("redact-a-b", Path("/var/lib/egov-lab/redact-a-b")))
    assert fake.calls == []
