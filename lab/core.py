"""Bring a lab up, report on it, bring it down: the functions ``egov lab`` and the tests call."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from egov.connection import Connection, connection_for, lab_name, lab_state_dir
from egov.errors import LabError
from egov.parallel import run_parallel
from egov.pki import Issued, lab_pki
from egov.results import Result, RunResult
from inventory.netvars import ospf_secret_names
from lab import docker_net, images, nodes, state
from lab.engine import Progress, _quiet, docker, engine_answers, ensure_engine, ensure_host_limits, memory_problem
from lab.labels import Owner
from lab.layout import LabPlan, NetworkSpec, NodeSpec, VethSpec, plan_lab
from lab.proxy import Proxy, ensure_proxy, running_pid, stop_proxy

if TYPE_CHECKING:
    from inventory.model import Inventory


@dataclass
class UpReport:
    """What ``lab up`` did: global changes, image builds, and each node's result."""

    name: str
    changes: list[str] = field(default_factory=list)
    images: list[images.ImageBuild] = field(default_factory=list)
    nodes: RunResult = field(default_factory=RunResult)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.changes) or bool(self.nodes.changed_targets)

    def to_dict(self) -> dict[str, Any]:
        return {"lab": self.name, "changed": self.changed, "changes": self.changes, "seconds": self.seconds,
                "images": [vars(b) for b in self.images], **self.nodes.to_dict()}


@dataclass
class DownReport:
    name: str
    removed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"lab": self.name, "removed": self.removed, "seconds": self.seconds}


class Lab:
    """One lab: the inventory it is built from, its plan, state directory and connection facts.

    + inventory: the loaded inventory (``environment: lab``)
    + name: the lab's name ($EGOV_LAB_NAME or the inventory file's stem); prefixes everything it creates
    + owner: the labels that mark its containers, networks and WAN links (found by those, never by name)
    + routers_only: the WAN alone, no hosts (docs/lab.md "The province's WAN"); None: as the last
      ``lab up`` built it (its state.json), so ``status`` and ``ssh`` need not be told again
    """

    def __init__(self, inventory: Inventory, routers_only: bool | None = None) -> None:
        self.inventory = inventory
        self.name = lab_name(inventory.path)
        self.state_dir: Path = lab_state_dir(inventory.path)
        self.owner = Owner(self.name, self.state_dir)
        self.connection: Connection = connection_for(inventory.path, "lab")
        if routers_only is None:
            routers_only = bool(state.read_state(self.state_dir).get("plan", {}).get("routers_only"))
        self.plan: LabPlan = plan_lab(inventory, self.name, routers_only)
        self.proxy = Proxy(self.state_dir / "apt-cacher-ng", self.plan.control_ip)
        self.last_up: UpReport | None = None

    def node(self, name: str) -> NodeSpec:
        try:
            return self.plan.nodes[name]
        except KeyError:
            raise LabError(f"no node {name!r} in lab {self.name}; nodes: {', '.join(self.plan.nodes)}") from None

    def _own(self, name: str) -> nodes.Running:
        """A node's container, found by the lab's labels (its name may be another lab's)."""
        self.node(name)
        current = nodes.find(self.owner).get(name)
        if current is None:
            raise LabError(f"node {name} of lab {self.name} has no container: run egov lab up")
        return current

    def exec(self, node: str, cmd: str | list[str], timeout: float = 120) -> tuple[int, str]:
        """Run a command in a node (``docker exec``, for checks); (exit code, stdout and stderr)."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        proc = docker("exec", self._own(node).id, *argv, check=False, timeout=timeout)
        return proc.returncode, proc.stdout + proc.stderr

    def ssh_argv(self, name: str, command: list[str]) -> list[str]:
        """The ssh command line for a node: lab key, lab known_hosts, strict host-key checking."""
        node = self.node(name)
        user = self.connection.router_user if node.kind == "router" else self.connection.host_user
        return ["ssh", "-i", str(self.connection.key_path), "-o", "IdentitiesOnly=yes",
                "-o", f"UserKnownHostsFile={self.connection.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "StrictHostKeyChecking=yes", f"{user}@{node.mgmt_ip}", *command]

    def stop_node(self, name: str) -> None:
        """Stop a node's container (its WAN links go down with it, as a powered-off router's would)."""
        docker("stop", "--time", "5", self._own(name).id)

    def start_node(self, name: str) -> list[str]:
        """Start a stopped node and wire it again (interfaces, routes, WAN links); returns the changes."""
        node = self.node(name)
        cid = self._own(name).id
        docker("start", cid)
        changes = self._wire_node(node, cid)
        changes += self._ensure_veths(only=name)
        nodes.wait_ssh(node.mgmt_ip)
        return changes

    def _image_for(self, node: NodeSpec, tags: dict[str, str]) -> str:
        return tags["router" if node.kind == "router" else "base"]

    def _wire_node(self, node: NodeSpec, cid: str) -> list[str]:
        running = nodes.inspect_one(cid)  # this container alone: inspecting the whole lab per node is O(n^2)
        if not running.running:
            raise LabError(f"{node.container} is not running")
        return nodes.wire(node, running.pid)

    def _ensure_veths(self, only: str | None = None, workers: int = 8) -> list[str]:
        """Every WAN link whose two routers run, made in parallel (a province has ~300: one
        after the other, their ~2,000 ip/nsenter calls took minutes)."""
        running = nodes.find(self.owner)
        wanted: list[tuple[VethSpec, int, int]] = []
        for veth in self.plan.veths:
            if only is not None and only not in (veth.a, veth.b):
                continue
            a, b = running.get(veth.a), running.get(veth.b)
            if a is None or b is None or not (a.running and b.running):
                continue  # a stopped router has no WAN links; start_node makes them again
            wanted.append((veth, a.pid, b.pid))
        with ThreadPoolExecutor(max_workers=workers) as pool:  # the first LabError is raised, as before
            made = list(pool.map(lambda job: nodes.ensure_veth(job[0], job[1], job[2], self.owner), wanted))
        return [f"link {veth.link}" for (veth, _, _), created in zip(wanted, made, strict=True) if created]

    def _up_node(self, node: NodeSpec, tags: dict[str, str], pubkey: str, password: str,
                 current: nodes.Running | None) -> Result:
        """Make one node's container match the plan; ``current`` is its container as ``up`` found it."""
        image = self._image_for(node, tags)
        changes = []
        if current is not None and current.recipe != node.recipe(image):
            docker("rm", "-f", current.id)  # its image or addresses changed: make it anew
            changes.append("re-created (image or addresses changed)")
            current = None
        if current is None:
            self._refuse_taken_names([node])  # again here: up()'s check and this create are not atomic
            cid = nodes.create_node(node, self.plan, image, pubkey, self.owner, self._router_tls(node))
            changes.append("created")
        else:
            cid = current.id
        if current is None or not current.running:
            docker("start", cid)
            changes.append("started")
            if node.kind == "router":
                # also after a restart: a first boot that failed may never have set it
                nodes.set_router_login(cid, password)
        changes += self._wire_node(node, cid)
        return Result(target=node.name, changed=bool(changes), diff="\n".join(changes),
                      data={"container": node.container, "changes": changes})

    def _router_tls(self, node: NodeSpec) -> Issued | None:
        """A TLS-logging router's certificate of the lab CA (the one the deploys issue the hosts'
        from), for its name and Loopback0: the log host permits it by that name."""
        if node.kind != "router" or not node.syslog_tls or node.syslog_source is None:
            return None
        return lab_pki(self.inventory.path).issue(f"router-{node.name}", [node.name, str(node.syslog_source)],
                                                  client_auth=True)

    def _refuse_taken_names(self, specs: list[NodeSpec], networks: list[NetworkSpec] | None = None) -> None:
        """A LabError naming every planned container (and network) name that something other than
        this lab holds (another lab's, or one made by hand), with its owner. Nothing is touched."""
        # judged by each container's own labels, as nodes.find does: no inspection of the whole lab per node
        taken = [self.owner.refuse("container", name, c.labels)
                 for name, c in nodes.by_name(n.container for n in specs).items()
                 if not (self.owner.owns(c.labels) and c.node)]
        found = docker_net.inspect_networks([n.name for n in networks or []])
        taken += [self.owner.refuse("network", name, info.get("Labels")) for name, info in found.items()
                  if not self.owner.owns(info.get("Labels"))]
        if taken:
            raise LabError("\n".join(str(e) for e in taken))

    def up(self, on_progress: Progress = _quiet, workers: int = 8) -> UpReport:
        """Make the lab match the inventory; changes nothing when it already does."""
        start = time.monotonic()
        report = UpReport(self.name)
        if self.inventory.environment != "lab":
            raise LabError(f"{self.inventory.path}: environment is {self.inventory.environment!r}, "
                           "a lab is only built from an inventory with `environment: lab`")
        if ensure_engine(on_progress):
            report.changes.append("Docker engine started")
        self._refuse_taken_names(list(self.plan.nodes.values()), self.plan.networks)
        existing = nodes.find(self.owner)
        problem = memory_problem(dict(Counter(n.kind for n in self.plan.nodes.values() if n.name not in existing)))
        if problem:  # before anything is created: a lab half up for lack of memory helps no one
            raise LabError(f"lab {self.name}: {problem}")
        report.changes += ensure_host_limits()
        on_progress("images")
        report.images = images.ensure_images(on_progress)
        report.changes += [f"image {b.tag} built in {b.seconds} s" for b in report.images if b.built]
        tags = {b.name: b.tag for b in report.images}
        if state.ensure_state_dir(self.state_dir):
            report.changes.append(f"state directory {self.state_dir}")
        if state.ensure_key(self.connection):
            report.changes.append(f"SSH key {self.connection.key_path}")
        password, generated = state.ensure_router_password(self.connection)
        if generated:
            report.changes.append(f"router_password generated into {self.connection.secrets_file}")
        report.changes += [f"{name} generated into {self.connection.secrets_file}"
                           for name in state.ensure_secrets(self.connection, ospf_secret_names(
                               router.vars for router in self.inventory.routers.values()))]
        on_progress("networks")
        for net in self.plan.networks:
            if docker_net.ensure_network(net, self.owner):
                report.changes.append(f"network {net.name} {net.subnet}")
            if docker_net.ensure_bridge_rule(net, self.name):
                report.changes.append(f"firewall rule for {net.name}")
        if ensure_proxy(self.proxy, images.debian_mirror()):
            report.changes.append(f"apt-cacher-ng on {self.proxy.url}")
        on_progress(f"{len(self.plan.nodes)} nodes")
        pubkey = state.public_key(self.connection)

        def done(result: Result) -> None:
            what = ", ".join(result.data.get("changes", [])) or "unchanged"
            on_progress(f"{result.target}: {result.error if result.failed else what}")

        found = nodes.find(self.owner)
        report.nodes = run_parallel(lambda n: self._up_node(self.plan.nodes[n], tags, pubkey, password, found.get(n)),
                                    self.plan.nodes, workers=workers, on_done=done)
        if report.nodes.failed:
            report.seconds = round(time.monotonic() - start, 1)
            self.last_up = report
            return report
        report.changes += self._ensure_veths()
        on_progress("host keys and SSH")
        running = nodes.find(self.owner)
        entries = [entry for node in self.plan.nodes.values()
                   for entry in nodes.host_keys(node, running[node.name].pid)]
        if state.write_known_hosts(self.connection, entries):
            report.changes.append(f"known_hosts {self.connection.known_hosts}")
        for node in self.plan.nodes.values():
            nodes.wait_ssh(node.mgmt_ip)
        state.write_state(self.state_dir, {"lab": self.name, "inventory": str(self.inventory.path),
                                           "images": tags, "plan": self.plan.to_dict()})
        report.seconds = round(time.monotonic() - start, 1)
        self.last_up = report
        return report

    def status(self, workers: int = 16) -> RunResult:
        """Each node: its container's state, its addresses and whether SSH answers."""
        running = nodes.find(self.owner)

        def one(name: str) -> Result:
            node = self.plan.nodes[name]
            current = running.get(name)
            state_ = "missing" if current is None else ("running" if current.running else "stopped")
            ssh = state_ == "running" and nodes.ssh_answers(node.mgmt_ip)
            addresses = [f"{a.ifname} {a.ip}" for a in node.attachments]
            error = "" if ssh else (f"container {state_}" if state_ != "running" else "SSH does not answer")
            return Result(target=name, failed=not ssh, error=error,
                          data={"kind": node.kind, "container": node.container, "state": state_,
                                "addresses": addresses, "ssh": ssh})

        return run_parallel(one, self.plan.nodes, workers=workers)

    def down(self, on_progress: Progress = _quiet) -> DownReport:
        """Remove everything of this lab; a LabError when something is still left afterwards."""
        return down(self.owner, self.proxy, self.bridges, on_progress)

    @property
    def bridges(self) -> list[str]:
        """The Linux bridges of the lab's networks."""
        return [docker_net.bridge_name(n.name) for n in self.plan.networks]


def down(owner: Owner, proxy: Proxy, bridges: list[str], on_progress: Progress = _quiet) -> DownReport:
    """Remove the lab's containers (their veths go with them), networks, firewall rules and proxy.

    Works from Docker labels, not from the inventory or names, so a lab whose inventory changed or
    disappeared still comes down completely, and another lab's objects of the same names stay.
    """
    start = time.monotonic()
    report = DownReport(owner.name)
    if not engine_answers():
        raise LabError("the Docker engine does not answer: cannot see the lab's containers")
    containers = sorted(nodes.find(owner).values(), key=lambda c: c.container)
    if containers:
        on_progress(f"removing {len(containers)} containers")
        for container in containers:
            # one at a time: after a parallel removal Docker 20.10 once kept counting an endpoint
            # on a network (moby/moby#42119) and refused to remove it until dockerd restarted
            docker("rm", "-f", container.id)
            report.removed.append(f"container {container.container}")
    on_progress("removing networks")
    removed, problems = docker_net.remove_networks(owner)
    report.removed += removed
    if stop_proxy(proxy):
        report.removed.append(f"apt-cacher-ng on {proxy.url}")
    left = leftovers(owner, proxy, bridges)
    if left or problems:
        raise LabError("\n".join([f"lab {owner.name} is not fully down; still there: {', '.join(left)}", *problems]))
    report.seconds = round(time.monotonic() - start, 1)
    return report


def leftovers(owner: Owner, proxy: Proxy, bridges: list[str]) -> list[str]:
    """Whatever of the lab still exists: containers, networks, bridges, firewall rules, proxy process,
    WAN veth ends (by their label alias) in this machine's namespace.

    The WAN veth pairs live in the routers' namespaces and die with them; Docker's own veths
    hang off the lab bridges, so no bridge left means no veth left.
    """
    left = [f"container {c.container}" for c in nodes.find(owner).values()]
    left += [f"bridge {b}" for b in bridges if Path(f"/sys/class/net/{b}").exists()]
    left += [f"network {n}" for n in docker_net.lab_networks(owner)]
    left += [f"firewall rule {' '.join(r[1:6])}" for r in docker_net.lab_rules(owner.name)]
    left += [f"veth {v}" for v in nodes.stray_veths(owner)]
    if running_pid(proxy) is not None:
        left.append(f"apt-cacher-ng pid {running_pid(proxy)}")
    return left

