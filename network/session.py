"""Open an SSH session to a router through its platform's driver, host key checked, credentials
from the secrets (environment or file), never in a log or an error message."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from paramiko.ssh_exception import SSHException

from egov.connection import Connection
from egov.errors import NetworkError
from egov.secrets import Secrets, redact
from inventory.model import Router
from network.drivers import Driver, driver_class


def connect(router: Router, connection: Connection, secrets: Secrets, timeout: float = 10.0) -> Driver:
    """A driver connected to ``router``; the caller closes it (``Driver.close``)."""
    cls = driver_class(router.platform)
    password = secrets.get("router_password")
    # a key the router accepts is tried before the password (cheaper for the router: no password hashing)
    key = connection.key_path if connection.key_path.is_file() else None
    try:
        conn = cls.netmiko_class(
            host=str(router.mgmt_ip), username=connection.router_user, password=password,
            use_keys=key is not None, key_file=str(key) if key else None, allow_agent=False,
            ssh_strict=True, system_host_keys=False, alt_host_keys=True, alt_key_file=str(connection.known_hosts),
            conn_timeout=timeout, auth_timeout=timeout, banner_timeout=timeout,
        )
    except (SSHException, OSError, ValueError) as exc:  # netmiko's timeout/auth errors subclass SSHException
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise NetworkError(redact(f"{router.name} ({router.mgmt_ip}): cannot connect: {type(exc).__name__}: {first}"))\
            from None
    return cls(conn)


@contextmanager
def open_driver(router: Router, connection: Connection, secrets: Secrets, timeout: float = 10.0) -> Iterator[Driver]:
    """A connected driver for ``router``; the session is closed when the block ends."""
    driver = connect(router, connection, secrets, timeout)
    try:
        yield driver
    finally:
        driver.close()
