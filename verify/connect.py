"""testinfra hosts over SSH with strict host-key checking.

testinfra's paramiko backend accepts unknown host keys with a warning; the toolkit never does.
``StrictParamikoBackend`` loads only the inventory's known_hosts file and rejects any key not in
it, and keeps one SSH connection per node for all its checks (each command is one channel,
closed as soon as the command ends).
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import paramiko
import testinfra.host
from testinfra.backend.paramiko import ParamikoBackend

from egov.connection import Connection


class _RetriedChannelFilter(logging.Filter):
    """paramiko logs every refused channel at ERROR; here a refusal is retried, not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Secsh channel")


logging.getLogger("paramiko.transport").addFilter(_RetriedChannelFilter())

CONNECT_TIMEOUT = 10
CHANNEL_RETRIES = 6


class StrictParamikoBackend(ParamikoBackend):
    """A paramiko backend that trusts only the known_hosts file it is given."""

    def __init__(self, hostspec: str, known_hosts: str, key_path: str, **kwargs: Any) -> None:
        super().__init__(hostspec, ssh_identity_file=key_path, timeout=CONNECT_TIMEOUT, **kwargs)
        self.known_hosts = known_hosts

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.load_host_keys(self.known_hosts)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(hostname=self.host.name, port=int(self.host.port or 22), username=self.host.user,
                       key_filename=self.ssh_identity_file, timeout=self.timeout, banner_timeout=self.timeout,
                       auth_timeout=self.timeout, allow_agent=False, look_for_keys=False)
        return client

    def _exec_command(self, command: bytes) -> tuple[int, bytes, bytes]:
        # The verifier runs a few commands at once per node. Each channel is closed when its
        # command ends, and a refused one (sshd's MaxSessions, counting channels still closing)
        # is opened again after a short wait.
        transport = self.client.get_transport()
        assert transport is not None
        for attempt in range(CHANNEL_RETRIES):
            try:
                chan = transport.open_session()
                break
            except paramiko.ChannelException:
                if attempt == CHANNEL_RETRIES - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
        with chan:
            chan.exec_command(command)
            stdout = b"".join(chan.makefile("rb"))
            stderr = b"".join(chan.makefile_stderr("rb"))
            rc = chan.recv_exit_status()
        return rc, stdout, stderr

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
            del self.__dict__["client"]


def ssh_host(address: str, conn: Connection) -> testinfra.host.Host:
    """A testinfra host for ``address`` (the node's management IP), strict known_hosts."""
    backend = StrictParamikoBackend(f"{conn.host_user}@{address}", known_hosts=str(conn.known_hosts),
                                    key_path=str(conn.key_path))
    host = testinfra.host.Host(backend)
    backend.set_host(host)
    return host
