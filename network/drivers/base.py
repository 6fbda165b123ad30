"""The base driver: what every platform shares. Each platform's module (``frr``, ``cisco_ios``,
``huawei_vrp``, ``juniper_junos``) holds every quirk of that platform; ``network.drivers``
maps platform names to them.

A driver knows two things about its platform:

- the configuration text (class methods, no device needed, unit-tested): how to normalise what the
  device prints so it compares with what we render, the remediation (hier-config) as the exact
  lines to send, and what a configuration says about management access (the lock-out guard);
- the session (methods on an open netmiko connection): read the running configuration, send lines
  stopping at the first one the device rejects, save, restore, and read OSPF neighbours and routes.
  netmiko's failures on the session become NetworkError subclasses (``session_errors``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from ipaddress import IPv4Address, IPv4Network
from typing import ClassVar

from hier_config import HConfig, Platform, WorkflowRemediation, get_hconfig
from netmiko import BaseConnection, ConfigInvalidException, NetmikoTimeoutException, ReadTimeout
from paramiko.ssh_exception import SSHException

from egov.errors import DeviceTimeout, DeviceUnreachable, LineRefused, NetworkError

log = logging.getLogger(__name__)


def ipv4_network(text: str, mask: str | None = None) -> IPv4Network | None:
    """A network from ``a.b.c.d/len``, ``a.b.c.d mask`` or ``a.b.c.d wildcard``; None if it is none."""
    try:
        if mask is None:
            return IPv4Network(text, strict=False)
        if mask.startswith("0.") or mask == "255.255.255.255":  # a wildcard (ACLs)
            mask = str(IPv4Address(int(IPv4Address(mask)) ^ 0xFFFFFFFF))
        return IPv4Network(f"{text}/{mask}", strict=False)
    except ValueError:
        return None


@contextmanager
def session_errors() -> Iterator[None]:
    """netmiko's failures on an open session as NetworkError subclasses, with netmiko's text and name."""
    try:
        yield
    except (ReadTimeout, NetmikoTimeoutException) as exc:  # before SSHException: netmiko's timeout subclasses it
        raise DeviceTimeout(str(exc), report_name=type(exc).__name__) from None
    except (OSError, EOFError, SSHException) as exc:  # the socket or the SSH transport went away
        raise DeviceUnreachable(str(exc), report_name=type(exc).__name__) from None


class Driver:
    """The base: what every platform shares. Subclasses change class attributes and override hooks."""

    platform: ClassVar[str]
    netmiko_class: ClassVar[type[BaseConnection]]
    hier_platform: ClassVar[Platform]
    show_running: ClassVar[str] = "show running-config"
    # a line of output matching this means the device refused the line just sent
    error_pattern: ClassVar[str] = r"^\s*% ?(Invalid|Incomplete|Ambiguous|Unknown).*$"
    # lines the device prints that the inventory does not manage (dropped on both sides before comparing)
    unmanaged: ClassVar[tuple[str, ...]] = (r"^!", r"^end$", r"^Building configuration", r"^Current configuration")
    # the line that leaves a configuration section (None: flat, set-style configuration)
    section_exit: ClassVar[str | None] = "exit"
    # the out-of-band management interface (templates name it through the context)
    mgmt_interface: ClassVar[str]
    # (pattern, replacement) rewrites of remediation lines the device's CLI wants said differently
    rewrites: ClassVar[tuple[tuple[str, str], ...]] = ()
    # the OSPF neighbour table: the show command, and a row's pattern naming the groups "rid" and "state"
    neighbour_command: ClassVar[str]
    neighbour_row: ClassVar[str]

    def __init__(self, conn: BaseConnection) -> None:
        self.conn = conn

    # ---- configuration text ----------------------------------------------------------------

    @classmethod
    def normalise(cls, text: str) -> str:
        """The configuration as hier-config should compare it: unmanaged lines and blank lines dropped."""
        patterns = [re.compile(p) for p in cls.unmanaged]
        kept = [line.rstrip() for line in text.splitlines()
                if line.strip() and not any(pattern.search(line) for pattern in patterns)]
        return "\n".join(kept) + "\n"

    @classmethod
    def hconfig(cls, text: str) -> HConfig:
        try:
            return get_hconfig(cls.hier_platform, cls.normalise(text))
        except Exception as exc:  # noqa: BLE001 - hier-config raises several types for unparsable text
            raise NetworkError(f"{cls.platform}: cannot parse the configuration: {type(exc).__name__}: {exc}") from None

    @classmethod
    def remediation(cls, running: str, intended: str) -> list[str]:
        """The exact lines that turn ``running`` into ``intended``, in the order to send them."""
        workflow = WorkflowRemediation(cls.hconfig(running), cls.hconfig(intended))
        lines = cls.adjust(cls.to_lines(workflow.remediation_config), running)
        for pattern, replacement in cls.rewrites:
            lines = [re.sub(pattern, replacement, line) for line in lines]
        return lines

    @classmethod
    def adjust(cls, lines: list[str], running: str) -> list[str]:
        """Hook: reshape the remediation where the platform's CLI differs from hier-config's model."""
        return lines

    @classmethod
    def to_lines(cls, config: HConfig) -> list[str]:
        """Flatten a hier-config tree into CLI lines, leaving each section explicitly."""
        lines: list[str] = []
        depth = 0
        for child in config.all_children_sorted():
            level = child.depth() - 1
            while cls.section_exit and depth > level:
                lines.append(cls.section_exit)
                depth -= 1
            lines.append(child.text)
            depth = level + 1 if child.children else level
        while cls.section_exit and depth > 0:
            lines.append(cls.section_exit)
            depth -= 1
        return lines

    # what a configuration says about management access (the lock-out guard reads these)

    @classmethod
    def ssh_enabled(cls, text: str) -> bool:
        return True

    @classmethod
    def ssh_sources(cls, text: str) -> list[IPv4Network] | None:
        """Networks the configuration lets reach SSH; None when the configuration does not filter SSH."""
        return None

    @classmethod
    def static_routes(cls, text: str) -> list[tuple[IPv4Network, str]]:
        return []

    @classmethod
    def shutdown_interfaces(cls, text: str) -> list[str]:
        """Interfaces the configuration shuts down."""
        config = cls.hconfig(text)
        return [section.text.split(None, 1)[1] for section in config.children
                if section.text.startswith("interface ") and any(line.text == "shutdown" for line in section.children)]

    # ---- session -------------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self.conn.disconnect()
        except Exception:
            log.debug("disconnect failed", exc_info=True)

    def source_address(self) -> IPv4Address:
        """This machine's address on the SSH session (the management range the push comes from)."""
        transport = self.conn.remote_conn_pre.get_transport()  # type: ignore[union-attr]
        return IPv4Address(transport.sock.getsockname()[0])  # type: ignore[union-attr]

    def send(self, command: str, read_timeout: float = 10.0) -> str:
        """The output of one show command."""
        with session_errors():
            return str(self.conn.send_command(command, read_timeout=read_timeout))

    def running(self) -> str:
        return self.send(self.show_running, read_timeout=60)

    def apply(self, lines: list[str]) -> None:
        """Send lines in configuration mode; stop at the first one the device refuses."""
        with session_errors():
            try:
                self.conn.send_config_set(lines, error_pattern=self.error_pattern, read_timeout=30)
            except ConfigInvalidException as exc:
                self.conn.exit_config_mode()
                raise LineRefused(f"the device refused a line: {exc}") from None

    def confirm(self) -> None:
        """Make the applied configuration permanent (save it)."""
        with session_errors():
            self.conn.save_config()

    def restore(self, backup: str) -> list[str]:
        """Bring the running configuration back to ``backup``; returns the lines sent."""
        lines = self.remediation(self.running(), backup)
        if lines:
            self.apply(lines)
        return lines

    def neighbours(self) -> dict[str, str]:
        """OSPF neighbours: router id -> state, lower case (``full``, ``init``, ...)."""
        output = self.send(self.neighbour_command)
        return {m["rid"]: m["state"].lower() for m in re.finditer(self.neighbour_row, output, re.MULTILINE)}

    def missing_routes(self, prefixes: Iterable[IPv4Network]) -> list[IPv4Network]:
        """The prefixes no route of the routing table covers (a default route counts)."""
        raise NotImplementedError
