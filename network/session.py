"""Open an SSH session to a router through its platform's driver, host key checked, credentials
from the secrets (environment or file), never in a log or an error message."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from netmiko import NetmikoTimeoutException, ReadTimeout
from paramiko.ssh_exception import AuthenticationException, SSHException

from egov.connection import Connection
from egov.errors import AuthenticationFailed, DeviceTimeout, DeviceUnreachable, NetworkError
from egov.secrets import Secrets, redact
from inventory.model import Router
from network.drivers import driver_class
from network.drivers.base import Driver
from network.drivers.scope import Scope


def _login_error(exc: Exception) -> type[NetworkError]:
    """Which failure a login failure is. netmiko reports a refused, unroutable or timed-out TCP
    connection alike (NetmikoTimeoutException); the socket error it was raised from tells them apart."""
    if isinstance(exc, AuthenticationException):  # netmiko's NetmikoAuthenticationException subclasses it
        return AuthenticationFailed
    if isinstance(exc, TimeoutError):
        return DeviceTimeout
    if isinstance(exc, NetmikoTimeoutException) and (exc.__context__ is None
                                                      or isinstance(exc.__context__, TimeoutError)):
        return DeviceTimeout  # "Timed out waiting for data", or the TCP connection timed out
    return DeviceUnreachable


def mgmt_interface(router: Router, driver: type[Driver]) -> str:
    """The router's management interface: its model's (``Router.mgmt_interface``), else the platform's default."""
    return router.mgmt_interface if router.mgmt_interface not in ("", "?") else driver.mgmt_interface


def router_scope(router: Router, driver: type[Driver]) -> Scope:
    """The managed scope of ``router`` (``network__scope`` of its configuration language, ``network__full_replace``),
    ``{mgmt}`` in its patterns being the router's management interface."""
    return Scope.from_vars(f"router {router.name}", driver.syntax, router.vars, mgmt_interface(router, driver))


def connect(router: Router, connection: Connection, secrets: Secrets, timeout: float = 10.0) -> Driver:
    """A driver connected to ``router``; the caller closes it (``Driver.close``)."""
    cls = driver_class(router.platform)
    scope = router_scope(router, cls)
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
    except ReadTimeout as exc:  # logged in, but the prompt never came
        raise DeviceTimeout(redact(str(exc)), report_name=type(exc).__name__) from None
    except (SSHException, OSError, ValueError) as exc:  # netmiko's timeout/auth errors subclass SSHException
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise _login_error(exc)(
            redact(f"{router.name} ({router.mgmt_ip}): cannot connect: {type(exc).__name__}: {first}")) from None
    return cls(conn, scope)


@contextmanager
def open_driver(router: Router, connection: Connection, secrets: Secrets, timeout: float = 10.0) -> Iterator[Driver]:
    """A connected driver for ``router``; the session is closed when the block ends."""
    driver = connect(router, connection, secrets, timeout)
    try:
        yield driver
    finally:
        driver.close()
