"""Facts about the machine itself that the stock pyinfra facts do not give."""

from __future__ import annotations

from typing import Any

from pyinfra.api import FactBase
from typing_extensions import override


class ContainerKind(FactBase[str]):
    """The container technology the host runs in (``docker``, ``lxc``...), or ``""`` on a real
    or virtual machine. Decides how to run daemons that need capabilities a container lacks
    (chronyd's CAP_SYS_TIME, auditd's audit netlink socket).

    Returns ``""`` when ``systemd-detect-virt`` says ``none`` or is missing.
    """

    @override
    def command(self) -> str:
        return "systemd-detect-virt --container 2>/dev/null || true"

    @override
    @staticmethod
    def default() -> str:
        return ""

    @override
    def process(self, output: list[str]) -> str:
        kind = "".join(output).strip()
        return "" if kind in ("", "none") else kind


class _OnSomeInterface(dict[str, str]):
    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key, "rehearsal0")


class Ipv4Addresses(FactBase[dict[str, str]]):
    """Each IPv4 address of the host mapped to its interface name (``{"10.22.176.10": "eth1"}``).
    keepalived needs the interface that holds the host's address on the VIP's network."""

    @override
    def command(self) -> str:
        return "ip -o -4 addr show"

    @override
    @staticmethod
    def default() -> dict[str, str]:
        return {}

    @staticmethod
    def rehearsal_default() -> dict[str, str]:
        """Before the host has answered (``deploys/fact_cache.py``), any address is on some
        interface: the lb deploy, which stops when its own is on none, is rehearsed to its end."""
        return _OnSomeInterface()

    @override
    def process(self, output: list[str]) -> dict[str, str]:
        addresses = {}
        for line in output:
            # "2: eth0    inet 10.22.146.10/26 brd ... scope global eth0"
            fields = line.split()
            if len(fields) >= 4 and fields[2] == "inet":
                addresses[fields[3].split("/")[0]] = fields[1].split("@")[0]
        return addresses
