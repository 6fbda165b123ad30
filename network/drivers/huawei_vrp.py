"""Huawei VRP: every quirk of the platform lives in ``HuaweiVrpDriver``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from ipaddress import IPv4Network

from hier_config import Platform
from netmiko.huawei.huawei import HuaweiSSH

from network.drivers.base import Driver, ipv4_network, session_errors


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
    neighbour_command = "display ospf peer brief"
    neighbour_row = r"^\s*\S+\s+\S+\s+(?P<rid>\d+\.\d+\.\d+\.\d+)\s+(?P<state>\w+)\s*$"

    @classmethod
    def ssh_enabled(cls, text: str) -> bool:
        config = cls.hconfig(text)
        enabled = any(section.text == "stelnet server enable" for section in config.children)
        vty = [section for section in config.children if section.text.startswith("user-interface vty")]
        return enabled and any(line.text.startswith("protocol inbound") and ("ssh" in line.text or "all" in line.text)
                               for section in vty for line in section.children)

    @classmethod
    def ssh_sources(cls, text: str) -> list[IPv4Network] | None:
        config = cls.hconfig(text)
        acls = {line.text.split()[1] for section in config.children if section.text.startswith("user-interface vty")
                for line in section.children if re.match(r"^acl \d+ inbound$", line.text)}
        if not acls:
            return None
        nets = []
        for acl in config.children:
            words = acl.text.split()
            if words[:2] == ["acl", "number"] and words[2] in acls:
                for rule in acl.children:
                    m = re.match(r"^rule \d+ permit(?: source (\S+) (\S+))?$", rule.text)
                    net = ((ipv4_network(m.group(1), m.group(2)) if m.group(1) else IPv4Network("0.0.0.0/0"))
                           if m else None)
                    if net is not None:
                        nets.append(net)
        return nets

    @classmethod
    def static_routes(cls, text: str) -> list[tuple[IPv4Network, str]]:
        routes = []
        for m in re.finditer(r"^ip route-static (\S+) (\S+) (\S+)", cls.normalise(text), re.MULTILINE):
            net = ipv4_network(m.group(1), m.group(2))
            if net is not None:
                routes.append((net, m.group(3)))
        return routes

    def confirm(self) -> None:
        with session_errors():
            self.conn.save_config(cmd="save", confirm=True, confirm_response="y")

    def missing_routes(self, prefixes: Iterable[IPv4Network]) -> list[IPv4Network]:
        return [prefix for prefix in prefixes
                if str(prefix.network_address) not in self.send(
                    f"display ip routing-table {prefix.network_address} {prefix.prefixlen}")]
