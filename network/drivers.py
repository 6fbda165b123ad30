"""One driver class per platform, registered in ONE dict (``DRIVERS``); every quirk lives in its class.

A driver knows two things about its platform:

- the configuration text (class methods, no device needed, unit-tested): how to normalise what the
  device prints so it compares with what we render, the remediation (hier-config) as the exact
  lines to send, and what a configuration says about management access (the lock-out guard);
- the session (methods on an open netmiko connection): read the running configuration, send lines
  stopping at the first one the device rejects, save, restore, and read OSPF neighbours and routes.

FRR has no netmiko driver and no hier-config platform: ``FrrVtyshSSH`` drives vtysh as a login
shell, and FRR's text is normalised (``exit``/``end``/``!`` lines and version stamps dropped)
so hier-config's Cisco IOS rules compute its remediation.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network
from typing import Any, ClassVar, cast

from hier_config import HConfig, Platform, WorkflowRemediation, get_hconfig
from netmiko import BaseConnection, ConfigInvalidException
from netmiko.cisco.cisco_ios import CiscoIosBase, CiscoIosSSH
from netmiko.huawei.huawei import HuaweiSSH
from netmiko.juniper.juniper import JuniperSSH

from egov.errors import NetworkError

log = logging.getLogger(__name__)


class FrrVtyshSSH(CiscoIosBase):
    """netmiko connection to FRR's vtysh as the SSH user's login shell.

    vtysh starts in enable mode (``r1#``), has no ``terminal width`` ("% Unknown command") and
    saves with ``write memory`` (integrated config). Errors are printed without "Invalid input":
    the driver's ``error_pattern`` catches them.
    """

    def session_preparation(self) -> None:
        self._test_channel_read(pattern=r"[>#]")
        self.set_base_prompt()
        self.disable_paging(command="terminal length 0")

    def save_config(self, cmd: str = "write memory", confirm: bool = False, confirm_response: str = "") -> str:
        return super().save_config(cmd=cmd, confirm=confirm, confirm_response=confirm_response)


def _ip(text: str) -> IPv4Address | None:
    try:
        return IPv4Address(text)
    except ValueError:
        return None


def _net(text: str, mask: str | None = None) -> IPv4Network | None:
    """A network from ``a.b.c.d/len``, ``a.b.c.d mask`` or ``a.b.c.d wildcard``."""
    try:
        if mask is None:
            return IPv4Network(text, strict=False)
        if mask.startswith("0.") or mask == "255.255.255.255":  # a wildcard (ACLs)
            mask = str(IPv4Address(int(IPv4Address(mask)) ^ 0xFFFFFFFF))
        return IPv4Network(f"{text}/{mask}", strict=False)
    except ValueError:
        return None


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

    def __init__(self, conn: BaseConnection) -> None:
        self.conn = conn

    # ---- configuration text ----------------------------------------------------------------

    @classmethod
    def normalise(cls, text: str) -> str:
        """The configuration as hier-config should compare it: unmanaged lines and blank lines dropped."""
        patterns = [re.compile(p) for p in cls.unmanaged]
        kept = [line.rstrip() for line in text.splitlines()
                if line.strip() and not any(p.search(line) for p in patterns)]
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
        return [c.text.split(None, 1)[1] for c in config.children
                if c.text.startswith("interface ") and any(g.text == "shutdown" for g in c.children)]

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

    def running(self) -> str:
        return str(self.conn.send_command(self.show_running, read_timeout=60))

    def apply(self, lines: list[str]) -> None:
        """Send lines in configuration mode; stop at the first one the device refuses."""
        try:
            self.conn.send_config_set(lines, error_pattern=self.error_pattern, read_timeout=30)
        except ConfigInvalidException as exc:
            self.conn.exit_config_mode()
            raise NetworkError(f"the device refused a line: {exc}") from None

    def confirm(self) -> None:
        """Make the applied configuration permanent (save it)."""
        self.conn.save_config()

    def restore(self, backup: str) -> list[str]:
        """Bring the running configuration back to ``backup``; returns the lines sent."""
        lines = self.remediation(self.running(), backup)
        if lines:
            self.apply(lines)
        return lines

    def neighbours(self) -> dict[str, str]:
        """OSPF neighbours: router id -> state, lower case (``full``, ``init``, ...)."""
        raise NotImplementedError

    def missing_routes(self, prefixes: Iterable[IPv4Network]) -> list[IPv4Network]:
        """The prefixes no route of the routing table covers (a default route counts)."""
        raise NotImplementedError


class IosLikeDriver(Driver):
    """Shared by FRR and Cisco IOS: the same configuration syntax family."""

    hier_platform = Platform.CISCO_IOS

    @classmethod
    def static_routes(cls, text: str) -> list[tuple[IPv4Network, str]]:
        routes = []
        for m in re.finditer(r"^ip route (\S+)(?: (\d+\.\d+\.\d+\.\d+))? (\S+)", cls.normalise(text), re.MULTILINE):
            net = _net(m.group(1), m.group(2)) if m.group(2) else _net(m.group(1))
            if net is not None:
                routes.append((net, m.group(3)))
        return routes


class FrrDriver(IosLikeDriver):
    """FRRouting 8.x over vtysh."""

    platform = "frr"
    netmiko_class = FrrVtyshSSH
    mgmt_interface = "eth0"
    # FRR's refusals: "% Unknown command", "% Command incomplete", "Must remove previous area config ...",
    # "% Malformed address", "Only inactive interfaces can be deleted", "There is no ..."
    error_pattern = r"^\s*(% |Must |Only |Can't |Cannot |There is no |Error).*$"
    unmanaged = (*Driver.unmanaged, r"^\s*exit$", r"^exit-vrf$", r"^frr (version|defaults) ",
                 r"^hostname ", r"^(no )?ipv6? forwarding$",
                 # FRR does not print a value that equals its default: never compare those either
                 r"^ ip ospf hello-interval 10$", r"^ ip ospf dead-interval 40$",
                 r"^ timers throttle spf 0 50 5000$", r"^ auto-cost reference-bandwidth 100000$")
    # "no area X stub no-summary" only drops no-summary and leaves the area stub
    # "no description" takes no text
    rewrites = ((r"^no area (\S+) stub no-summary$", r"no area \1 stub"), (r"^no description .*$", "no description"))

    @classmethod
    def adjust(cls, lines: list[str], running: str) -> list[str]:
        """FRR refuses "no interface X" while the kernel has X ("% Configuration failed"):
        empty the section line by line instead."""
        sections = {c.text: c for c in cls.hconfig(running).children if c.text.startswith("interface ")}
        out: list[str] = []
        for line in lines:
            section = sections.get(line.removeprefix("no ")) if line.startswith("no interface ") else None
            if section is None:
                out.append(line)
            else:
                out += [section.text, *(f"no {child.text}" for child in section.children), "exit"]
        return out

    def neighbours(self) -> dict[str, str]:
        data = self._json("show ip ospf neighbor json")
        out = {}
        for rid, entries in data.get("neighbors", {}).items():
            for entry in entries if isinstance(entries, list) else [entries]:
                state = str(entry.get("nbrState") or entry.get("state") or "")
                out[rid] = state.split("/")[0].lower()
        return out

    def missing_routes(self, prefixes: Iterable[IPv4Network]) -> list[IPv4Network]:
        # a stub area's routers reach the rest through the default route: any covering route counts
        table = [IPv4Network(p) for p in self._json("show ip route json")]
        return [p for p in prefixes if not any(p.subnet_of(route) for route in table)]

    def _json(self, command: str) -> dict[str, Any]:
        output = str(self.conn.send_command(command, read_timeout=10))
        try:
            data = json.loads(output[output.find("{"):] if "{" in output else "{}")
        except json.JSONDecodeError:
            raise NetworkError(f"'{command}' did not answer JSON: {output[:200]!r}") from None
        return data if isinstance(data, dict) else {}


class CiscoIosDriver(IosLikeDriver):
    """Cisco IOS / IOS XE."""

    platform = "cisco_ios"
    netmiko_class = CiscoIosSSH
    mgmt_interface = "GigabitEthernet0"
    unmanaged = (*Driver.unmanaged, r"^version ", r"^ntp clock-period", r"^boot-(start|end)-marker")

    @classmethod
    def ssh_enabled(cls, text: str) -> bool:
        vty = [c for c in cls.hconfig(text).children if c.text.startswith("line vty")]
        return any(g.text.startswith("transport input") and ("ssh" in g.text or "all" in g.text)
                   for line in vty for g in line.children)

    @classmethod
    def ssh_sources(cls, text: str) -> list[IPv4Network] | None:
        config = cls.hconfig(text)
        classes = {g.text.split()[1] for c in config.children if c.text.startswith("line vty")
                   for g in c.children if g.text.startswith("access-class ") and g.text.endswith(" in")}
        if not classes:
            return None
        nets: list[IPv4Network] = []
        for acl in config.children:
            words = acl.text.split()
            if words[:2] == ["ip", "access-list"] and words[-1] in classes:
                for rule in acl.children:
                    m = re.match(r"^(?:\d+ )?permit (?:host (\S+)|(any)|(\S+)(?: (\S+))?)$", rule.text)
                    if m:
                        host, any_, addr, wildcard = m.groups()
                        net = (IPv4Network("0.0.0.0/0") if any_ else _net(host) if host
                               else _net(addr, wildcard) if wildcard else _net(addr))
                        if net is not None:
                            nets.append(net)
        return nets

    def neighbours(self) -> dict[str, str]:
        output = str(self.conn.send_command("show ip ospf neighbor"))
        return {m.group(1): m.group(2).lower()
                for m in re.finditer(r"^(\d+\.\d+\.\d+\.\d+)\s+\d+\s+([A-Z-]+)/", output, re.MULTILINE)}

    def missing_routes(self, prefixes: Iterable[IPv4Network]) -> list[IPv4Network]:
        return [p for p in prefixes
                if "not in table" in str(self.conn.send_command(f"show ip route {p.network_address}"))]


class HuaweiVrpDriver(Driver):
    """Huawei VRP: ``system-view``, ``quit`` leaves a section, ``undo`` negates, ``save`` asks to confirm."""

    platform = "huawei_vrp"
    netmiko_class = HuaweiSSH
    hier_platform = Platform.HUAWEI_VRP
    show_running = "display current-configuration"
    mgmt_interface = "MEth0/0/0"
    section_exit = "quit"
    error_pattern = r"^\s*Error:.*$"
    unmanaged = (r"^#", r"^return$", r"^!Software Version", r"^!Last configuration")

    @classmethod
    def ssh_enabled(cls, text: str) -> bool:
        config = cls.hconfig(text)
        enabled = any(c.text == "stelnet server enable" for c in config.children)
        vty = [c for c in config.children if c.text.startswith("user-interface vty")]
        return enabled and any(g.text.startswith("protocol inbound") and ("ssh" in g.text or "all" in g.text)
                               for u in vty for g in u.children)

    @classmethod
    def ssh_sources(cls, text: str) -> list[IPv4Network] | None:
        config = cls.hconfig(text)
        acls = {g.text.split()[1] for c in config.children if c.text.startswith("user-interface vty")
                for g in c.children if re.match(r"^acl \d+ inbound$", g.text)}
        if not acls:
            return None
        nets = []
        for acl in config.children:
            words = acl.text.split()
            if words[:2] == ["acl", "number"] and words[2] in acls:
                for rule in acl.children:
                    m = re.match(r"^rule \d+ permit(?: source (\S+) (\S+))?$", rule.text)
                    net = (_net(m.group(1), m.group(2)) if m.group(1) else IPv4Network("0.0.0.0/0")) if m else None
                    if net is not None:
                        nets.append(net)
        return nets

    @classmethod
    def static_routes(cls, text: str) -> list[tuple[IPv4Network, str]]:
        routes = []
        for m in re.finditer(r"^ip route-static (\S+) (\S+) (\S+)", cls.normalise(text), re.MULTILINE):
            net = _net(m.group(1), m.group(2))
            if net is not None:
                routes.append((net, m.group(3)))
        return routes

    def confirm(self) -> None:
        self.conn.save_config(cmd="save", confirm=True, confirm_response="y")

    def neighbours(self) -> dict[str, str]:
        output = str(self.conn.send_command("display ospf peer brief"))
        return {m.group(1): m.group(2).lower()
                for m in re.finditer(r"^\s*\S+\s+\S+\s+(\d+\.\d+\.\d+\.\d+)\s+(\w+)\s*$", output, re.MULTILINE)}

    def missing_routes(self, prefixes: Iterable[IPv4Network]) -> list[IPv4Network]:
        return [p for p in prefixes
                if str(p.network_address) not in str(self.conn.send_command(
                    f"display ip routing-table {p.network_address} {p.prefixlen}"))]


class JuniperJunosDriver(Driver):
    """Juniper Junos: a candidate configuration, ``set``/``delete`` lines and a native
    ``commit confirmed`` that the device rolls back by itself if the confirming commit never comes."""

    platform = "juniper_junos"
    netmiko_class = JuniperSSH
    hier_platform = Platform.JUNIPER_JUNOS
    show_running = "show configuration | display inheritance no-comments | no-more"
    mgmt_interface = "fxp0"
    section_exit = None
    error_pattern = r"^\s*(error:|syntax error|unknown command).*$"
    unmanaged = (r"^## ", r"^version ", r"^/\*.*\*/$")
    confirm_minutes: ClassVar[int] = 5

    @classmethod
    def _sets(cls, text: str) -> list[str]:
        return [c.text for c in cls.hconfig(text).children]

    @classmethod
    def ssh_enabled(cls, text: str) -> bool:
        return any(line.startswith("set system services ssh") for line in cls._sets(text))

    @classmethod
    def ssh_sources(cls, text: str) -> list[IPv4Network] | None:
        sets = cls._sets(text)
        filters = {m.group(1) for line in sets
                   if (m := re.match(r"^set interfaces lo0 unit 0 family inet filter input (\S+)$", line))}
        if not filters:
            return None
        lists: dict[str, list[IPv4Network]] = {}
        for line in sets:
            if (m := re.match(r"^set policy-options prefix-list (\S+) (\S+)$", line)) and (n := _net(m.group(2))):
                lists.setdefault(m.group(1), []).append(n)
        nets: list[IPv4Network] = []
        for name in sorted(filters):
            prefix = f"set firewall family inet filter {name} term "
            terms = list(dict.fromkeys(line[len(prefix):].split()[0] for line in sets if line.startswith(prefix)))
            for term in terms:  # in order: the first term that matches SSH from a source decides
                body = [line[len(prefix) + len(term) + 1:] for line in sets if line.startswith(f"{prefix}{term} ")]
                if any("destination-port" in b for b in body) and not any("destination-port ssh" in b for b in body):
                    continue  # a term about other traffic
                sources = [net for b in body if b.startswith("from source-prefix-list ")
                           for net in lists.get(b.split()[-1], [])]
                sources += [n for b in body if b.startswith("from source-address ") and (n := _net(b.split()[-1]))]
                restricted = any(b.startswith(("from source-prefix-list ", "from source-address ")) for b in body)
                if "then accept" in body:
                    nets.extend(sources if restricted else [IPv4Network("0.0.0.0/0")])
                if not restricted:
                    break  # every remaining source is decided by this term
        return nets

    @classmethod
    def static_routes(cls, text: str) -> list[tuple[IPv4Network, str]]:
        routes = []
        for line in cls._sets(text):
            m = re.match(r"^set routing-options static route (\S+) (.+)$", line)
            if m and (net := _net(m.group(1))) is not None:
                routes.append((net, m.group(2)))
        return routes

    @classmethod
    def shutdown_interfaces(cls, text: str) -> list[str]:
        return [m.group(1) for line in cls._sets(text) if (m := re.match(r"^set interfaces (\S+) disable$", line))]

    def apply(self, lines: list[str]) -> None:
        """Load the set/delete lines into the candidate and commit it confirmed: the device itself
        rolls back after ``confirm_minutes`` unless ``confirm`` commits again."""
        try:
            self.conn.send_config_set(lines, error_pattern=self.error_pattern, exit_config_mode=False)
            cast(JuniperSSH, self.conn).commit(confirm=True, confirm_delay=self.confirm_minutes)
        except (ConfigInvalidException, ValueError) as exc:
            self.conn.send_config_set(["rollback 0"], exit_config_mode=True)
            raise NetworkError(f"the device refused the change: {exc}") from None

    def confirm(self) -> None:
        self.conn.commit()  # type: ignore[attr-defined]
        self.conn.exit_config_mode()

    def restore(self, backup: str) -> list[str]:
        self.conn.send_config_set(["rollback 1"], exit_config_mode=False)
        self.conn.commit()  # type: ignore[attr-defined]
        self.conn.exit_config_mode()
        return ["rollback 1", "commit"]

    def neighbours(self) -> dict[str, str]:
        output = str(self.conn.send_command("show ospf neighbor"))
        return {m.group(2): m.group(1).lower()
                for m in re.finditer(r"^\S+\s+\S+\s+(\w+)\s+(\d+\.\d+\.\d+\.\d+)\s+\d+", output, re.MULTILINE)}

    def missing_routes(self, prefixes: Iterable[IPv4Network]) -> list[IPv4Network]:
        return [p for p in prefixes if str(p) not in str(self.conn.send_command(f"show route {p} exact"))]


# The dispatcher: platform name (the inventory's ``platform``) -> driver class.
DRIVERS: dict[str, type[Driver]] = {
    cls.platform: cls for cls in (FrrDriver, CiscoIosDriver, HuaweiVrpDriver, JuniperJunosDriver)
}


def driver_class(platform: str) -> type[Driver]:
    try:
        return DRIVERS[platform]
    except KeyError:
        raise NetworkError(f"no driver for platform '{platform}' (known: {', '.join(sorted(DRIVERS))})") from None
