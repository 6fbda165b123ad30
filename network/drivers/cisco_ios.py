"""Cisco IOS / IOS XE, and the IOS syntax family FRR shares (``IosLikeDriver``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from ipaddress import IPv4Network

from hier_config import Platform
from netmiko.cisco.cisco_ios import CiscoIosSSH

from network.drivers.base import Driver, ipv4_network


class IosLikeDriver(Driver):
    """Shared by FRR and Cisco IOS: the same configuration syntax family."""

    hier_platform = Platform.CISCO_IOS

    @classmethod
    def static_routes(cls, text: str) -> list[tuple[IPv4Network, str]]:
        routes = []
        for m in re.finditer(r"^ip route (\S+)(?: (\d+\.\d+\.\d+\.\d+))? (\S+)", cls.normalise(text), re.MULTILINE):
            net = ipv4_network(m.group(1), m.group(2)) if m.group(2) else ipv4_network(m.group(1))
            if net is not None:
                routes.append((net, m.group(3)))
        return routes


class CiscoIosDriver(IosLikeDriver):
    """Cisco IOS / IOS XE."""

    platform = "cisco_ios"
    netmiko_class = CiscoIosSSH
    mgmt_interface = "GigabitEthernet0"
    unmanaged = (*Driver.unmanaged, r"^version ", r"^ntp clock-period", r"^boot-(start|end)-marker")
    neighbour_command = "show ip ospf neighbor"
    neighbour_row = r"^(?P<rid>\d+\.\d+\.\d+\.\d+)\s+\d+\s+(?P<state>[A-Z-]+)/"

    @classmethod
    def ssh_enabled(cls, text: str) -> bool:
        vty = [section for section in cls.hconfig(text).children if section.text.startswith("line vty")]
        return any(line.text.startswith("transport input") and ("ssh" in line.text or "all" in line.text)
                   for section in vty for line in section.children)

    @classmethod
    def ssh_sources(cls, text: str) -> list[IPv4Network] | None:
        config = cls.hconfig(text)
        classes = {line.text.split()[1] for section in config.children if section.text.startswith("line vty")
                   for line in section.children if line.text.startswith("access-class ")
                   and line.text.endswith((" in", " in vrf-also"))}
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
                        net = (IPv4Network("0.0.0.0/0") if any_ else ipv4_network(host) if host
                               else ipv4_network(addr, wildcard) if wildcard else ipv4_network(addr))
                        if net is not None:
                            nets.append(net)
        return nets

    def missing_routes(self, prefixes: Iterable[IPv4Network]) -> list[IPv4Network]:
        return [prefix for prefix in prefixes
                if "not in table" in self.send(f"show ip route {prefix.network_address}")]
