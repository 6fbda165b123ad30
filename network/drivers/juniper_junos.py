"""Juniper Junos: every quirk of the platform lives in ``JuniperJunosDriver``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from ipaddress import IPv4Network
from typing import ClassVar, cast

from hier_config import Platform
from netmiko import ConfigInvalidException
from netmiko.juniper.juniper import JuniperSSH

from egov.errors import CommitFailed, LineRefused
from network.drivers.base import Driver, ipv4_network, session_errors


class JuniperJunosDriver(Driver):
    """Juniper Junos: a candidate configuration, ``set``/``delete`` lines and a native
    ``commit confirmed`` that the device rolls back by itself if the confirming commit never comes."""

    platform = "juniper_junos"
    netmiko_class = JuniperSSH
    hier_platform = Platform.JUNIPER_JUNOS
    show_running = "show configuration | display inheritance no-comments | no-more"
    mgmt_interface = "fxp0"
    section_exit = None
    # "error: configuration check-out failed", "syntax error, expecting <statement>", "unknown command.",
    # "missing mandatory statement: 'interface'", "invalid value ...", "error: commit failed: (statements constraint
    # check failed)"
    error_pattern = r"^\s*(error:|syntax error|unknown command|missing mandatory statement|invalid value).*$"
    # "## Last commit: 2026-12-01 02:14:37 UTC by egovadmin", "version 21.4R3.15;", "/* an annotation */"
    noise = (r"^## ", r"^version ", r"^\s*/\*.*\*/$")
    # "encrypted-password "$6$..."", "secret "$9$..."", "authentication-key "$9$..."" (OSPF md5 keys: key "$9$...")
    secrets = (r"\b(encrypted-password|secret|authentication-key|key) (?P<secret>\"[^\"]*\"|\S+)$",)
    guard_rules = (
        ("the push's own login", r"^delete system login user {user}( |$)"),
        ("the push's own login", r"^delete system login$"),
        ("the management instance", r"^delete system management-instance"),
        ("the management instance", r"^delete routing-instances {vrf}( |$)"),
        ("the management instance", r"^delete routing-instances$"),
        ("the management interface", r"^delete interfaces {mgmt}$"),
        ("the management interface", r"^(set|delete) interfaces {mgmt} (?!description )"),
        ("SSH access", r"^delete system services( ssh|$)"),
        ("the console", r"^delete system ports console"),
        ("the console (root authentication)", r"^delete system root-authentication"),
    )
    config_marker = r"^(## Last commit|version |\S+ \{$)"
    # "commit complete" (netmiko's commit raises on "error:")
    saved_marker = r"commit complete"
    neighbour_command = "show ospf neighbor"
    neighbour_row = r"^\S+\s+\S+\s+(?P<state>\w+)\s+(?P<rid>\d+\.\d+\.\d+\.\d+)\s+\d+"
    confirm_minutes: ClassVar[int] = 5

    @classmethod
    def printed(cls, text: str) -> str:
        """Junos marks secrets ``...; ## SECRET-DATA``: the marker is no part of the statement."""
        return re.sub(r";\s*## SECRET-DATA\s*$", ";", text, flags=re.MULTILINE)

    @classmethod
    def _sets(cls, text: str) -> list[str]:
        return [section.text for section in cls.parsed(text).children]

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
            if ((m := re.match(r"^set policy-options prefix-list (\S+) (\S+)$", line))
                    and (net := ipv4_network(m.group(2)))):
                lists.setdefault(m.group(1), []).append(net)
        nets: list[IPv4Network] = []
        for name in sorted(filters):
            prefix = f"set firewall family inet filter {name} term "
            terms = list(dict.fromkeys(line[len(prefix):].split()[0] for line in sets if line.startswith(prefix)))
            for term in terms:  # in order: the first term that matches SSH from a source decides
                body = [line[len(prefix) + len(term) + 1:] for line in sets if line.startswith(f"{prefix}{term} ")]
                if any("destination-port" in clause for clause in body) \
                        and not any("destination-port ssh" in clause for clause in body):
                    continue  # a term about other traffic
                sources = [net for clause in body if clause.startswith("from source-prefix-list ")
                           for net in lists.get(clause.split()[-1], [])]
                sources += [net for clause in body
                            if clause.startswith("from source-address ") and (net := ipv4_network(clause.split()[-1]))]
                restricted = any(clause.startswith(("from source-prefix-list ", "from source-address "))
                                 for clause in body)
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
            if m and (net := ipv4_network(m.group(1))) is not None:
                routes.append((net, m.group(2)))
        return routes

    @classmethod
    def mgmt_vrf(cls, text: str, mgmt: str | None = None) -> str | None:
        """``system management-instance`` puts the management interface in the instance ``mgmt_junos``."""
        return "mgmt_junos" if "set system management-instance" in cls._sets(text) else None

    @classmethod
    def aaa_fallback_problem(cls, text: str) -> str | None:
        sets = cls._sets(text)
        order = [word for line in sets if line.startswith("set system authentication-order ")
                 for word in line.removeprefix("set system authentication-order ").strip("[] ").split()]
        if not {"tacplus", "radius"} & set(order):
            return None
        if "password" not in order:
            return (f"'set system authentication-order [ {' '.join(order)} ]' has no local fallback (password): "
                    "logins fail while the AAA servers are unreachable")
        if not any(re.match(r"^set system login user \S+ authentication ", line) for line in sets):
            return ("AAA falls back to local users and the configuration would have none "
                    "(a 'system login user ... authentication')")
        return None

    @classmethod
    def shutdown_interfaces(cls, text: str) -> list[str]:
        return [m.group(1) for line in cls._sets(text) if (m := re.match(r"^set interfaces (\S+) disable$", line))]

    @property
    def junos(self) -> JuniperSSH:
        """The session as netmiko's Junos class (which has ``commit``)."""
        return cast(JuniperSSH, self.conn)

    def apply(self, lines: list[str]) -> None:
        """Load the set/delete lines into the candidate and commit it confirmed: the device itself
        rolls back after ``confirm_minutes`` unless ``confirm`` commits again."""
        with session_errors():
            try:
                self.conn.send_config_set(lines, error_pattern=self.error_pattern, exit_config_mode=False)
                self.junos.commit(confirm=True, confirm_delay=self.confirm_minutes)
            except (ConfigInvalidException, ValueError) as exc:  # netmiko's commit raises ValueError
                self.conn.send_config_set(["rollback 0"], exit_config_mode=True)
                refusal = LineRefused if isinstance(exc, ConfigInvalidException) else CommitFailed
                raise refusal(f"the device refused the change: {exc}") from None

    def _commit(self) -> None:
        """Commit the candidate; the device's refusal keeps netmiko's text (``Commit failed ...``)."""
        with session_errors():
            try:
                output = str(self.junos.commit())
            except ValueError as exc:
                raise CommitFailed(str(exc), report_name=type(exc).__name__) from None
            self.conn.exit_config_mode()
        if not re.search(self.saved_marker, output):
            raise CommitFailed(f"the device did not confirm the commit: {output.strip()[-200:]!r}")

    def confirm(self) -> None:
        self._commit()

    def restore(self, backup: str) -> list[str]:
        with session_errors():
            self.conn.send_config_set(["rollback 1"], exit_config_mode=False)
        self._commit()
        return ["rollback 1", "commit"]

    def missing_routes(self, prefixes: Iterable[IPv4Network]) -> list[IPv4Network]:
        return [prefix for prefix in prefixes if str(prefix) not in self.send(f"show route {prefix} exact")]
