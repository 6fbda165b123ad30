"""How to reach the inventory's hosts and routers over SSH, in the lab or in production.

The lab and production differ only in where these facts come from: the lab keeps its own
key, known_hosts and router credentials in its state directory; production uses the
operator's key and ``~/.ssh/known_hosts``. Host keys are checked in both.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Protocol

from egov.errors import InputError, LabError

LAB_ROOT_ENV = "EGOV_LAB_DIR"
LAB_NAME_ENV = "EGOV_LAB_NAME"
DEFAULT_LAB_ROOT = "/var/lib/egov-lab"
# a plain name: it becomes a folder under the lab root and the prefix of Docker names and labels
LAB_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
LAB_NAME_MAX = 32


@dataclass(frozen=True)
class Connection:
    """SSH facts shared by pyinfra, testinfra and netmiko.

    + host_user: the user deploys log in as
    + key_path: private key for hosts (and routers, where they take keys)
    + known_hosts: the file of recorded host keys; strict checking is always on
    + router_user: the user whose login shell is the router CLI
    + secrets_file: the default secrets file (the lab writes its own; None in production)
    """

    host_user: str
    key_path: Path
    known_hosts: Path
    router_user: str
    secrets_file: Path | None


def lab_name(inventory_path: str | Path) -> str:
    """The lab's name: $EGOV_LAB_NAME, else the inventory file's stem (``lab`` for lab.yml).

    An InputError unless it is a plain name (lower-case letters, digits and inner '-', at most
    32 characters): ``../../../etc`` would make the state folder /etc."""
    name = os.environ.get(LAB_NAME_ENV)
    source = f"${LAB_NAME_ENV}"
    if not name:
        name, source = Path(inventory_path).stem, f"{inventory_path} (a lab is named after its inventory's file " \
                                                   f"name unless ${LAB_NAME_ENV} is set)"
    if not LAB_NAME.fullmatch(name):
        raise InputError(f"{source}: lab name {name!r} is not a plain name: lower-case letters, digits and '-' "
                         f"(not first or last), at most {LAB_NAME_MAX} characters")
    return name


def lab_state_dir(inventory_path: str | Path) -> Path:
    """Where the lab keeps its key, known_hosts, secrets and state (outside the repo, 0700)."""
    root = Path(os.environ.get(LAB_ROOT_ENV, DEFAULT_LAB_ROOT))
    return root / lab_name(inventory_path)


def state_dir(inventory_path: str | Path, environment: str) -> Path:
    """Where runs of an inventory keep what they remember between runs (the fact commands each host
    was asked, ``deploys/fact_cache.py``): the lab's state directory, else one per inventory file
    under ``$XDG_STATE_HOME/egov`` (``~/.local/state/egov``)."""
    if environment == "lab":
        return lab_state_dir(inventory_path)
    path = Path(inventory_path).resolve()
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", path.stem)[:40]
    return base / "egov" / f"{stem}-{hashlib.sha256(str(path).encode()).hexdigest()[:10]}"


def connection_for(inventory_path: str | Path, environment: str, host_user: str = "root",
                   router_user: str = "egov") -> Connection:
    """The connection facts for an inventory whose ``environment`` is ``lab`` or ``production``."""
    if environment == "lab":
        state = lab_state_dir(inventory_path)
        return Connection(host_user="root", key_path=state / "id_ed25519", known_hosts=state / "known_hosts",
                          router_user="egov", secrets_file=state / "secrets.yml")
    ssh = Path.home() / ".ssh"
    key = Path(os.environ.get("EGOV_SSH_KEY", ssh / "id_ed25519"))
    return Connection(host_user=host_user, key_path=key, known_hosts=ssh / "known_hosts",
                      router_user=router_user, secrets_file=None)


class _Plan(Protocol):
    @property
    def control_ip(self) -> IPv4Address | None: ...


class LabInventory(Protocol):
    """What ``require_lab_up`` reads of an ``inventory.Inventory`` (egov imports nothing of ours)."""

    @property
    def path(self) -> Path: ...

    @property
    def environment(self) -> str: ...

    @property
    def plan(self) -> _Plan: ...


def require_lab_up(inv: LabInventory) -> None:
    """Refuse to contact a lab inventory's nodes while its lab is down.

    Lab addresses are production addresses; with the lab's networks gone, a packet for one would
    follow the machine's default route out. The lab is up when this machine holds the control
    address on the lab's management bridge. Production inventories pass unchecked.
    """
    if inv.environment != "lab":
        return
    with socket.socket() as probe:
        try:
            probe.bind((str(inv.plan.control_ip), 0))
        except OSError:
            raise LabError(f"{inv.path}: the lab '{lab_name(inv.path)}' is not up (no {inv.plan.control_ip} on this "
                           f"machine), so its nodes cannot be reached: run egov lab up -i {inv.path}") from None
