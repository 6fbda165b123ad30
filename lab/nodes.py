"""Lab nodes: one systemd container per host and per router, wired as the inventory says.

Interfaces are renamed by the address they hold (Docker numbers them in an order of its
own), hosts get their static routes, routers their WAN veth pairs. All of it is re-applied
when a node starts again, since a container's network namespace is rebuilt on every start.
"""

from __future__ import annotations

import io
import json
import re
import socket
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

from egov import templating
from egov.errors import LabError
from egov.pki import Issued
from inventory.services import HOST_CERT, HOST_KEY, PACKAGE_CACHE_PORT, SYSLOG_ROUTER_PORT, SYSLOG_TLS_PORT, TRUSTED_CA
from lab.engine import docker, run
from lab.labels import Owner
from lab.layout import LabPlan, NodeSpec, VethSpec, rename_steps

# a lab router's rsyslog forwards as every host's does: base's template, one copy
TEMPLATES = templating.REPO / "templates" / "deploys"

NODE_LABEL = "egov.lab.node"
RECIPE_LABEL = "egov.lab.recipe"
HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")
BOOT_WAIT_S = 90

# What systemd as PID 1 needs here: --privileged fails on this kernel's capability bounding set
RUN_OPTIONS = (
    "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "seccomp=unconfined",
    "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
    "-e", "container=docker",
)
# igmp_max_memberships: ospfd joins AllSPFRouters on every OSPF interface through one socket, and the
# kernel's default of 20 groups per socket left a district router's 21st and later links (a province
# district has ~40) silent: "Multicast group memberships: <None>", the commune routers stuck in Init
ROUTER_OPTIONS = ("--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "net.ipv4.igmp_max_memberships=512")


@dataclass(frozen=True)
class Running:
    """A container as Docker reports it.

    + id: Docker's full id, what this lab addresses its own containers by (a name may be anyone's)
    + node: the inventory node it is (label ``egov.lab.node``), empty on a container not made by a lab
    """

    id: str
    container: str
    running: bool
    pid: int
    recipe: str
    node: str = ""
    labels: dict[str, str] = field(default_factory=dict)


def _inspect(refs: list[str]) -> list[Running]:
    """The given containers (ids or names) that exist; ``docker inspect`` skips the missing ones."""
    if not refs:
        return []
    proc = docker("inspect", "--type", "container", *refs, check=False)
    found = []
    for info in json.loads(proc.stdout or "[]"):
        labels = info["Config"].get("Labels") or {}
        found.append(Running(info["Id"], info["Name"].lstrip("/"), bool(info["State"]["Running"]),
                             int(info["State"]["Pid"]), labels.get(RECIPE_LABEL, ""), labels.get(NODE_LABEL, ""),
                             labels))
    return found


def inspect_one(cid: str) -> Running:
    """One container by id, as Docker reports it now (its pid changes on every start)."""
    found = _inspect([cid])
    if not found:
        raise LabError(f"container {cid[:12]} is gone")
    return found[0]


def find(owner: Owner) -> dict[str, Running]:
    """The lab's own containers, by node name: found by their labels, never by their names."""
    ids = docker("ps", "-a", "-q", "--no-trunc", *owner.filter()).stdout.split()
    return {c.node: c for c in _inspect(ids) if owner.owns(c.labels) and c.node}


def by_name(names: Iterable[str]) -> dict[str, Running]:
    """Whatever containers hold these names, whoever they belong to (to refuse a collision)."""
    return {c.container: c for c in _inspect(list(names))}


def nsenter(pid: int, *args: str, check: bool = True) -> str:
    """Run a command of this machine inside a node's network namespace."""
    return run(["nsenter", "-t", str(pid), "-n", *args], check=check).stdout


def _tar(files: dict[str, tuple[str, int]]) -> bytes:
    """A tar of files (path -> (text, mode)) for ``docker cp -``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, (text, mode) in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def node_files(node: NodeSpec, plan: LabPlan, pubkey: str, tls: Issued | None = None) -> dict[str, tuple[str, int]]:
    """Files a new node starts with: the lab key, apt via the proxy, a router's first FRR config
    and its syslog forwarding (``tls``: the router's certificate of the lab CA, for TLS)."""
    proxy = f"http://{plan.control_ip}:{PACKAGE_CACHE_PORT}"
    files = {
        "/root/.ssh/authorized_keys": (pubkey + "\n", 0o600),
        "/etc/apt/apt.conf.d/01egov-lab-proxy": (f'Acquire::http::Proxy "{proxy}";\n', 0o644),
    }
    if node.kind == "router":
        files["/home/egov/.ssh/authorized_keys"] = (pubkey + "\n", 0o600)
        # management only: the WAN and routing are the network layer's to configure
        frr_conf = (f"frr defaults traditional\nhostname {node.name}\nlog syslog informational\n"
                    "service integrated-vtysh-config\n!\n")
        files["/etc/frr/frr.conf"] = (frr_conf, 0o640)
        files.update(_syslog_forwarding(node, tls))
    return files


def _syslog_forwarding(node: NodeSpec, tls: Issued | None) -> dict[str, tuple[str, int]]:
    """FRR's "log syslog" reaches the router's own rsyslog, which sends on to the log hosts: over
    TLS as every host does (base's template, the router's certificate and the lab CA), or, for a
    router set to ``udp``, plain UDP from Loopback0 (docs/network.md, "Logging"). Named to sort
    before FRR's package's 45-frr.conf, which stops its daemons' lines after writing frr.log."""
    if not node.syslog_targets or node.syslog_source is None:
        return {}
    path = "/etc/rsyslog.d/10-egov-log-hosts.conf"
    if not node.syslog_tls:
        return {path: ("# Written by egov lab up (lab/nodes.py): this router's plain syslog to the log hosts\n"
                       + "".join(f'*.* action(type="omfwd" target="{target}" port="{SYSLOG_ROUTER_PORT}" '
                                 f'protocol="udp" address="{node.syslog_source}")\n'
                                 for _name, target in node.syslog_targets), 0o644)}
    if tls is None:
        raise LabError(f"{node.name}: syslog over TLS needs the router's certificate")
    forward = templating.render(TEMPLATES, "base/rsyslog-forward.conf.j2",
                                {"managed_by": "egov lab up, lab/nodes.py", "port": SYSLOG_TLS_PORT,
                                 "targets": [(name, str(ip)) for name, ip in node.syslog_targets],
                                 "cert": HOST_CERT, "key": HOST_KEY, "ca": TRUSTED_CA}, LabError, "lab router")
    return {path: (forward, 0o644), HOST_CERT: (tls.cert_pem, 0o644), HOST_KEY: (tls.key_pem, 0o600),
            TRUSTED_CA: (tls.ca_pem, 0o644)}


def create_node(node: NodeSpec, plan: LabPlan, image: str, pubkey: str, owner: Owner,
                tls: Issued | None = None) -> str:
    """Create (not start) a node's container on all its networks, with its first files (``tls``: a
    router's certificate) and the lab's labels. Returns its id. Docker refuses a name that is
    taken, so nothing is replaced."""
    first, *others = node.attachments
    cid = docker("create", "--name", node.container, "--hostname", node.name, *owner.labels(),
                 "--label", f"{NODE_LABEL}={node.name}", "--label", f"{RECIPE_LABEL}={node.recipe(image)}",
                 *RUN_OPTIONS, *(ROUTER_OPTIONS if node.kind == "router" else ()),
                 "--network", first.network, "--ip", str(first.ip), image).stdout.strip()
    for attachment in others:
        docker("network", "connect", "--ip", str(attachment.ip), attachment.network, cid)
    docker("cp", "-", f"{cid}:/", input_bytes=_tar(node_files(node, plan, pubkey, tls)))
    return cid


def set_router_login(cid: str, password: str) -> None:
    """Give the router user its password (on stdin, never on a command line) and its files."""
    docker("exec", "-i", cid, "sh", "-c",
           "chpasswd && chown -R egov:egov /home/egov/.ssh && chown frr:frr /etc/frr/frr.conf",
           input_text=f"egov:{password}\n")


def wire(node: NodeSpec, pid: int) -> list[str]:
    """Give each interface its planned name, add the node's routes, drop Docker's default route.
    Returns what changed."""
    current: dict[str, str] = {}
    for line in nsenter(pid, "ip", "-o", "-4", "addr", "show").splitlines():
        fields = line.split()
        current[fields[3].split("/")[0]] = fields[1]
    wanted = {str(a.ip): a.ifname for a in node.attachments}
    changes = []
    for old, new in rename_steps(current, wanted):
        nsenter(pid, "ip", "link", "set", "dev", old, "down")
        nsenter(pid, "ip", "link", "set", "dev", old, "name", new)
        nsenter(pid, "ip", "link", "set", "dev", new, "up")
        if not new.startswith("egtmp"):
            changes.append(f"interface {new}")
    # Docker gives a node a default route via the bridge (this machine) even on internal
    # networks; a lab node has none, so a packet for an address the lab lacks goes nowhere
    if nsenter(pid, "ip", "route", "show", "default").strip():
        nsenter(pid, "ip", "route", "del", "default")
        changes.append("default route removed")
    for prefix, gateway in node.routes:
        if f"via {gateway} " not in nsenter(pid, "ip", "-o", "route", "show", "exact", str(prefix)) + " ":
            nsenter(pid, "ip", "route", "replace", str(prefix), "via", str(gateway))
            changes.append(f"route {prefix} via {gateway}")
    return changes


def _links(pid: int) -> dict[str, str]:
    """A namespace's interfaces: name -> alias ("" when it has none)."""
    links = {}
    for line in nsenter(pid, "ip", "-o", "link", "show").splitlines():
        alias = re.search(r"\balias (\S+)", line)
        links[line.split(":")[1].strip().split("@")[0]] = alias.group(1) if alias else ""
    return links


def ensure_veth(veth: VethSpec, pid_a: int, pid_b: int, owner: Owner) -> bool:
    """The WAN link as a veth pair straight into both routers' namespaces, both ends carrying the
    lab's label as their alias. True when created."""
    ends_a, ends_b = _links(pid_a), _links(pid_b)
    ends = ((pid_a, veth.a_ifname, ends_a), (pid_b, veth.b_ifname, ends_b))
    if all(ifname in have and have[ifname] in (owner.alias, "") for _pid, ifname, have in ends):
        for pid, ifname, have in ends:
            if not have[ifname]:  # a pair made before links carried the label: label it in place
                nsenter(pid, "ip", "link", "set", "dev", ifname, "alias", owner.alias)
        return False
    # a half-present pair cannot be: veth ends die together; clear whichever name is taken (these
    # are the lab's own routers' namespaces: whatever is in them is the lab's)
    for pid, ifname, have in ends:
        if ifname in have:
            nsenter(pid, "ip", "link", "del", ifname)
    run(["ip", "link", "add", veth.a_ifname, "netns", str(pid_a), "type", "veth",
         "peer", "name", veth.b_ifname, "netns", str(pid_b)])
    for pid, ifname in ((pid_a, veth.a_ifname), (pid_b, veth.b_ifname)):
        nsenter(pid, "ip", "link", "set", "dev", ifname, "alias", owner.alias)
        nsenter(pid, "ip", "link", "set", "dev", ifname, "up")
    return True


def stray_veths(owner: Owner) -> list[str]:
    """Interfaces of this machine's own namespace that carry the lab's alias: a veth end only lands
    here when a router's namespace vanished while its pair was being made."""
    out = run(["ip", "-o", "link", "show"], check=False).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()
            if re.search(rf"\balias {re.escape(owner.alias)}(\s|$)", line)]


def host_keys(node: NodeSpec, pid: int, wait_s: float = BOOT_WAIT_S) -> list[tuple[str, str]]:
    """A node's SSH host keys (generated at its first boot), read through its root filesystem,
    as ``(management address, "type key")`` known_hosts entries."""
    root = Path(f"/proc/{pid}/root/etc/ssh")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            keys = [(root / f"ssh_host_{kind}_key.pub").read_text().split()[:2] for kind in HOST_KEY_TYPES]
            if all(len(k) == 2 for k in keys):
                return [(str(node.mgmt_ip), " ".join(k)) for k in keys]
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise LabError(f"{node.container}: no SSH host keys after {wait_s} s; its boot failed? "
                           f"(docker exec {node.container} systemctl --failed)")
        time.sleep(0.3)


def ssh_answers(address: IPv4Address, timeout: float = 2.0) -> bool:
    """Whether an SSH server answers with its banner."""
    try:
        with socket.create_connection((str(address), 22), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def wait_ssh(address: IPv4Address, wait_s: float = BOOT_WAIT_S) -> None:
    deadline = time.monotonic() + wait_s
    while not ssh_answers(address):
        if time.monotonic() > deadline:
            raise LabError(f"SSH on {address} did not answer within {wait_s} s")
        time.sleep(0.3)
