"""Juniper Junos: every quirk of the platform lives in ``JuniperJunosDriver``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from ipaddress import IPv4Network

from hier_config import Platform
from netmiko import ConfigInvalidException
from netmiko.juniper.juniper import JuniperSSH

from egov.errors import CommitFailed, LineRefused, UnexpectedOutput
from network.drivers.base import Driver, ipv4_network, session_errors


class JuniperJunosDriver(Driver):
    """Juniper Junos: a candidate configuration, ``set``/``delete`` lines and a native
    ``commit confirmed`` that the device rolls back by itself if the confirming commit never comes.

    The transaction (Junos CLI User Guide, "Commit the Configuration", "configure exclusive"):
    ``configure exclusive`` locks the candidate (nobody else's pending edits are committed with ours,
    and a second push is refused, naming the holder); the lines are loaded, ``commit check`` validates
    them, ``commit confirmed N`` (minutes) makes them running under the device's own timer; ``commit``
    confirms, after ``show system commit`` says our confirmed commit is still pending. A refused line or
    check leaves with ``rollback 0`` (our candidate discarded, nothing committed); a restore sends
    ``rollback 1`` + ``commit`` only while our confirmed commit is the pending one."""

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
    # (an NTP key: "authentication-key 5 type sha256 value "$9$..."")
    secrets = (r"\bauthentication-key \d+ type \S+ value (?P<secret>\"[^\"]*\"|\S+)$",
               r"\b(encrypted-password|secret|authentication-key|key) (?P<secret>\"[^\"]*\"|\S+)$")
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
    # commit confirmed counts minutes, 1 to 65535
    revert_unit = 60
    revert_range = (1, 65535)
    revert_starts_at_begin = False
    # "show system commit": the newest commit is number 0; a confirmed one still waiting for its confirmation reads
    # "0   2026-12-01 02:14:37 UTC by egovadmin via cli commit confirmed, rollback in 5mins"
    pending_row = r"^\s*0\s+.*commit confirmed, rollback in \d+\s*mins?"
    # "configure exclusive" held by another session: "error: configuration database locked by: ..."
    locked_pattern = r"error: configuration database (locked|modified)"
    # our change is committed on the device (confirmed or not): only then does a restore commit anything
    committed = False

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

    pki_kind = "CA profile"

    @classmethod
    def syslog_pki(cls, text: str) -> list[str]:
        """The CA profiles syslog hosts verify against (``tlsdetails trusted-ca-group G ca-profiles CA``, one
        name or ``[ A B ]``). The ``local-certificate`` cannot be checked here: a local certificate is loaded
        by an operational command (``request security pki local-certificate load``), never in the configuration."""
        names: list[str] = []
        for line in cls._sets(text):
            m = re.match(r"^set system syslog host \S+ tlsdetails trusted-ca-group \S+ ca-profiles (.+)$", line)
            if m:
                names += [word for word in m.group(1).split() if word not in ("[", "]")]
        return names

    @classmethod
    def pki_objects(cls, text: str) -> set[str]:
        """The CA profiles, ``security pki ca-profile NAME { ca-identity ...; }`` in the configuration."""
        return {m.group(1) for line in cls._sets(text) if (m := re.match(r"^set security pki ca-profile (\S+)", line))}

    @classmethod
    def shutdown_interfaces(cls, text: str) -> list[str]:
        return [m.group(1) for line in cls._sets(text) if (m := re.match(r"^set interfaces (\S+) disable$", line))]

    def _exclusive(self) -> None:
        """Enter ``configure exclusive`` (unless in configuration mode already); refused when another
        session holds the configuration, with the device's words naming the holder."""
        with session_errors():
            if self.conn.check_config_mode():
                return
            output = str(self.conn.send_command("configure exclusive", expect_string=r"[>#]\s*$",
                                                strip_prompt=False, strip_command=False))
        if re.search(self.locked_pattern, output):
            with session_errors():
                if self.conn.check_config_mode():
                    self.conn.exit_config_mode()
            holder = " ".join(line.strip() for line in output.splitlines() if line.strip() and "configure" not in line)
            raise LineRefused(f"the configuration is locked by another session: {holder[:200]}")
        with session_errors():
            entered = self.conn.check_config_mode()
        if not entered:  # never fall back to a shared "configure": another session's edits would be committed
            raise UnexpectedOutput(f"'configure exclusive' did not enter configuration mode: {output.strip()[-200:]!r}")

    def _commit_command(self, command: str, marker: str) -> str:
        """Send a commit command; CommitFailed with the device's words unless it printed ``marker``."""
        with session_errors():
            output = str(self.conn.send_command(command, expect_string=r"[>#]\s*$", strip_prompt=False,
                                                strip_command=False, read_timeout=120))
        if marker not in output:
            refusal = self._refusal(output) or output.strip()[-200:]
            raise CommitFailed(f"'{command}' failed: {refusal}")
        return output

    def arm(self, seconds: int) -> None:
        """Take the configuration lock; the timer itself starts with ``commit confirmed`` in ``apply``,
        the moment the lines take effect (until then they are a candidate and change nothing)."""
        self._exclusive()

    def apply(self, lines: list[str]) -> None:
        """Load the set/delete lines into the candidate, check it, and commit it confirmed: the device
        itself rolls back after the armed minutes unless ``confirm`` commits again."""
        self._exclusive()
        try:
            with session_errors():
                try:
                    self.conn.send_config_set(lines, error_pattern=self.error_pattern, exit_config_mode=False)
                except ConfigInvalidException as exc:
                    raise LineRefused(f"the device refused the change: {exc}") from None
            self._commit_command("commit check", "configuration check succeeds")
            if self.armed is not None:
                self._commit_command(f"commit confirmed {self.armed.seconds // 60}",
                                     "commit confirmed will be automatically rolled back")
                self.armed.start()
            else:
                self._commit_command("commit", "commit complete")
            self.committed = True
        except (LineRefused, CommitFailed):
            self._discard()
            raise

    def _discard(self) -> None:
        """Throw our uncommitted candidate away and leave (``rollback 0``: nothing is committed)."""
        with session_errors():
            self.conn.send_config_set(["rollback 0"], exit_config_mode=True)

    def pending(self) -> bool:
        with session_errors():
            report = str(self.conn.send_command("run show system commit" if self.conn.check_config_mode()
                                                else "show system commit"))
        return re.search(self.pending_row, report, re.MULTILINE) is not None

    def disarm(self) -> None:
        self._commit_command("commit", "commit complete")

    def save(self, **kwargs: object) -> None:
        """Junos has no save: a commit is persistent. Leave configuration mode (and its lock)."""
        with session_errors():
            self.conn.exit_config_mode()

    def restore(self, backup: str) -> list[str]:
        """Take our change back. Nothing committed yet: discard the candidate (``rollback 0``), never
        ``rollback 1``, which would undo the router's previous, unrelated commit. Our commit running (its
        timer still pending, which ``abort`` checked, or confirmed already): ``rollback 1`` + ``commit``."""
        if not self.committed:
            self._discard()
            return ["rollback 0"]
        self._exclusive()
        with session_errors():
            self.conn.send_config_set(["rollback 1"], exit_config_mode=False)
        self._commit_command("commit", "commit complete")
        self.save()
        return ["rollback 1", "commit"]

    def missing_routes(self, prefixes: Iterable[IPv4Network]) -> list[IPv4Network]:
        return [prefix for prefix in prefixes if str(prefix) not in self.send(f"show route {prefix} exact")]
