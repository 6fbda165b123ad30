"""The runner's own SSH session to each host of a run: it holds the host's deploy lock for the whole
run and runs the rolling deploy's health checks (``deploys/health.py``).

One deploy at a time per host: the session runs ``flock`` on ``LOCK_FILE`` and keeps the lock while
the session lives, writing the holder (user, control machine, process, run, start time) into the
file. A second run finds the lock taken and is refused with that holder named. When the holding
run ends, or dies however it dies (its SSH connection drops), the lock goes with it: no stale
lock to clear by hand.

Host keys are checked against the connection's known_hosts only (paramiko's ``RejectPolicy``).
"""

from __future__ import annotations

import getpass
import logging
import os
import shlex
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from egov.errors import DeployError

if TYPE_CHECKING:
    import paramiko

    from egov.connection import Connection

log = logging.getLogger(__name__)

LOCK_FILE = "/run/egov-deploy.lock"
CONNECT_TIMEOUT = 10
# flock's exit status when the lock is held (-E): what tells "held" from any other failure
HELD = 75


class LockHeld(DeployError):
    """Another deploy holds a host's lock."""


def holder(run_id: str) -> str:
    """Who this run is, as written into the lock file."""
    return (f"egov deploy run {run_id} by {getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} "
            f"since {time.strftime('%Y-%m-%dT%H:%M:%S%z')}")


@dataclass
class Answer:
    rc: int
    output: str


class HostSession:
    """One SSH connection to a host (strict host keys), for its lock and its health checks."""

    def __init__(self, name: str, address: str, conn: Connection) -> None:
        import paramiko

        self.name = name
        self.client = paramiko.SSHClient()
        self.client.load_host_keys(str(conn.known_hosts))
        self.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        self.client.connect(hostname=address, username=conn.host_user, key_filename=str(conn.key_path),
                            timeout=CONNECT_TIMEOUT, banner_timeout=CONNECT_TIMEOUT, auth_timeout=CONNECT_TIMEOUT,
                            allow_agent=False, look_for_keys=False)
        self.lock_channel: paramiko.Channel | None = None

    def _transport(self) -> paramiko.Transport:
        transport = self.client.get_transport()
        if transport is None:
            raise DeployError(f"{self.name}: the SSH session is closed")
        return transport

    def lock(self, who: str) -> None:
        """Take the host's deploy lock for as long as this session lives; LockHeld naming the
        holder when another run has it."""
        q = shlex.quote(LOCK_FILE)
        # the lock lives on fd 9 of this shell and of the cat that waits on the channel's stdin:
        # when the channel closes (end of run, or the connection drops), both exit and it is freed
        script = (f"exec 9<>{q} && if ! flock -n 9; then echo \"held by: $(cat {q})\"; exit {HELD}; fi; "
                  f"printf '%s\\n' {shlex.quote(who)} > {q}; echo locked; exec cat >/dev/null")
        channel = self._transport().open_session()
        channel.settimeout(CONNECT_TIMEOUT)
        channel.exec_command(script)
        reply = channel.makefile("rb").readline().decode("utf-8", "replace").strip()
        if reply != "locked":
            rc = channel.recv_exit_status()
            channel.close()
            if rc == HELD and reply.startswith("held by: "):
                raise LockHeld(f"{self.name}: another deploy is running here ({LOCK_FILE}: {reply[9:]}); "
                               "wait for it to end, or stop it")
            raise DeployError(f"{self.name}: could not take the deploy lock {LOCK_FILE} (exit {rc}): {reply}")
        channel.settimeout(None)
        self.lock_channel = channel

    def run(self, command: str, timeout: float = 30) -> Answer:
        """Run ``command`` on the host; its exit status and output (stdout and stderr)."""
        channel = self._transport().open_session()
        channel.settimeout(timeout)
        channel.set_combine_stderr(True)
        try:
            channel.exec_command(command)
            output = channel.makefile("rb").read().decode("utf-8", "replace")
            return Answer(channel.recv_exit_status(), output.strip())
        except TimeoutError:
            return Answer(124, f"no answer within {timeout:.0f} s")
        finally:
            channel.close()

    def close(self) -> None:
        """Release the lock (closing its channel) and the connection."""
        if self.lock_channel is not None:
            self.lock_channel.close()
            self.lock_channel = None
        self.client.close()
