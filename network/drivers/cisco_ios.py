"""Cisco IOS / IOS XE, and the IOS syntax family FRR shares (``IosLikeDriver``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from ipaddress import IPv4Network

from hier_config import Platform
from netmiko import ConfigInvalidException
from netmiko.cisco.cisco_ios import CiscoIosSSH

from egov.errors import LineRefused, NetworkError
from network.drivers.base import Driver, ipv4_network, session_errors


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
    """Cisco IOS / IOS XE (``show running-config`` as IOS XE 17 prints it).

    The transaction is Cisco's Configuration Rollback Confirmed Change (IOS XE "Managing Configuration
    Files": "Configuration Rollback Confirmed Change", "Configuration Archive"): ``configure terminal
    revert timer M`` copies the running configuration to the archive and opens configuration mode; unless
    ``configure confirm`` comes within M minutes the device puts that copy back by itself; ``configure
    revert now`` does it at once; ``show archive config rollback timer`` reports it ("%No Rollback
    Confirmed Change pending" once confirmed or reverted). It needs the archive: one that ``show archive``
    reports " Archive feature not enabled" gets ``archive / path flash:egov-archive / maximum 14`` first.
    """

    platform = "cisco_ios"
    netmiko_class = CiscoIosSSH
    mgmt_interface = "GigabitEthernet0"
    # "% Invalid input detected at '^' marker.", "% Incomplete command.", "% Ambiguous command:  \"x\"",
    # "% Unrecognized command", "% Bad mask 0.0.0.3 for address ...", "%Error opening ...", "% Error in ..."
    error_pattern = r"^\s*(% ?(Invalid|Incomplete|Ambiguous|Unknown|Unrecognized|Bad |Error|Not allowed)|%Error).*$"
    # "Building configuration...", "Current configuration : 4127 bytes", "! Last configuration change at ...", "end"
    noise = Driver.noise
    # IOS does not print a value equal to its default (hello 10 and dead 40 on point-to-point and broadcast
    # links, SSH time-out 120 s, reference bandwidth 100 Mbit/s, IOS XE's SPF throttle), nor "no shutdown"
    unprinted_defaults = (r"^ ip ospf hello-interval 10$", r"^ ip ospf dead-interval 40$", r"^ip ssh time-out 120$",
                          r"^ auto-cost reference-bandwidth 100$", r"^ timers throttle spf 50 200 5000$",
                          r"^ no shutdown$")
    # IOS prints secrets hashed or encrypted: "secret 9 $9$...", "key 7 0822455D0A16", "password 7 ..."
    secrets = (r"^(enable|username \S+( privilege \d+)?) secret (?P<secret>(\d )?\S+)$",
               r"^(enable|username \S+( privilege \d+)?) password (?P<secret>(\d )?\S+)$",
               # a TACACS+ server's key, not a key chain's `key 1` (a key id)
               r"^\s+key (?P<secret>(\d )?(?!\d+$)\S+)$", r"^\s+key-string (?P<secret>(\d )?\S+)$",
               r"^tacacs-server key (?P<secret>(\d )?\S+)$",
               r"^\s+ip ospf (message-digest-key \d+ md5|authentication-key) (?P<secret>(\d )?\S+)$",
               # "ntp authentication-key 5 cmac-aes-128 0822455D0A16 7": the type follows the key
               r"^ntp authentication-key \d+ \S+ (?P<secret>\S+( \d)?)$")
    # IOS XE asks "[confirm]" before removing a user, "[yes/no]" before replacing RSA keys or a trustpoint
    confirms = ((r"^no username ", "\n"), (r"^crypto key (generate|zeroize) ", None),
                (r"^no crypto pki trustpoint ", None))
    guard_rules = (
        ("the push's own login", r"^no username {user}( |$)"),
        ("the enable secret", r"^no enable (secret|password)"),
        ("the management VRF", r"^(no )?vrf definition {vrf}( / |$)"),
        ("the management VRF's routes", r"^no ip route vrf {vrf} "),
        ("the management interface", r"^no interface {mgmt}$"),
        ("the management interface", r"^interface {mgmt} / (?!description |no description$|no shutdown$)"),
        ("SSH access", r"^no ip ssh (version|server)"),
        ("SSH access", r"^(no crypto key |crypto key zeroize)"),
        ("SSH access (the VTY lines)", r"^no line vty "),
        ("SSH access (the VTY lines)", r"^line vty [^/]+ / no (transport input|login|access-class)"),
        ("SSH access (the VTY lines)", r"^line vty [^/]+ / transport input (?!.*\b(ssh|all)\b)"),
        ("the console", r"^no line con "),
        ("the console", r"^line con \d+ / (no |login |password )"),
    )
    mgmt_vrf_line = "vrf forwarding "
    privileged_prompt = r"#\s*$"
    config_marker = r"^(Building configuration|Current configuration|version \d|hostname )"
    saved_marker = r"\[OK\]"
    neighbour_command = "show ip ospf neighbor"
    neighbour_row = r"^(?P<rid>\d+\.\d+\.\d+\.\d+)\s+\d+\s+(?P<state>[A-Z-]+)/"
    # "configure terminal revert timer" counts minutes, 1 to 120
    revert_unit = 60
    revert_range = (1, 120)
    # the archive the revert timer keeps its copy in (files flash:egov-archive-<timestamp>-N, the newest 14)
    archive = ("archive", "path flash:egov-archive", "maximum 14", "exit")
    no_rollback_pending = "No Rollback Confirmed Change pending"

    @classmethod
    def printed(cls, text: str) -> str:
        """IOS prints a standard ACL's host entry as "permit A" (entered "permit A 0.0.0.0" or "permit host
        A"), host entries first in hash order (hier-config compares a section's lines in any order)."""
        text = re.sub(r"^( \d+ (permit|deny)) host (\S+)$", r"\1 \3", text, flags=re.MULTILINE)
        text = re.sub(r"^( \d+ (permit|deny) \S+) 0\.0\.0\.0$", r"\1", text, flags=re.MULTILINE)
        return cls._vty_per_line(text)

    @staticmethod
    def _vty_per_line(text: str) -> str:
        """IOS keeps one configuration per terminal line and prints alike neighbours as a range, grouped
        as it sees fit ("line vty 0 4" + "line vty 5 15", or "line vty 0 15"): compare line by line."""
        out: list[str] = []
        block: list[str] = []
        first = last = 0
        for line in [*text.splitlines(), ""]:
            if block and line.startswith(" "):
                block.append(line)
                continue
            if block:
                out += [row for n in range(first, last + 1) for row in (f"line vty {n}", *block[1:])]
                block = []
            m = re.match(r"^line vty (\d+)(?: (\d+))?$", line)
            if m:
                first, last = int(m.group(1)), int(m.group(2) or m.group(1))
                block = [line]
            elif line:
                out.append(line)
        return "\n".join(out) + "\n"

    @classmethod
    def adjust(cls, lines: list[str], running: str) -> list[str]:
        """Terminal lines changed alike are sent as one range ("line vty 0 15")."""
        out: list[str] = []
        i = 0
        while i < len(lines):
            m = re.match(r"^line vty (\d+)$", lines[i])
            if m is None:
                out.append(lines[i])
                i += 1
                continue
            end = lines.index("exit", i)
            body, first, last = lines[i + 1:end], int(m.group(1)), int(m.group(1))
            i = end + 1
            while i < len(lines) and lines[i] == f"line vty {last + 1}" and lines[i + 1:lines.index("exit", i)] == body:
                last += 1
                i = lines.index("exit", i) + 1
            out += [f"line vty {first} {last}" if last > first else f"line vty {first}", *body, "exit"]
        return out

    @classmethod
    def ssh_enabled(cls, text: str) -> bool:
        vty = [section for section in cls.parsed(text).children if section.text.startswith("line vty")]
        return any(line.text.startswith("transport input") and ("ssh" in line.text or "all" in line.text)
                   for section in vty for line in section.children)

    @classmethod
    def ssh_sources(cls, text: str) -> list[IPv4Network] | None:
        config = cls.parsed(text)
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

    @classmethod
    def aaa_fallback_problem(cls, text: str) -> str | None:
        config = cls.parsed(text)
        if config.get_child(equals="aaa new-model") is None:
            return None
        lists = [line.text.split(None, 4) for line in config.get_children(startswith="aaa authentication login ")]
        for words in lists:
            if len(words) == 5 and not {"local", "local-case", "enable"} & set(words[4].split()):
                return f"'{' '.join(words)}' has no local fallback: logins fail while the AAA servers are unreachable"
        if not any(re.match(r"^username \S+ .*(secret|password) ", line.text)
                   for line in config.get_children(startswith="username ")):
            return ("AAA falls back to local users and the configuration would have none "
                    "(a break-glass 'username ... secret' line)")
        return None

    pki_kind = "trustpoint"

    @classmethod
    def syslog_pki(cls, text: str) -> list[str]:
        """The trustpoints of the TLS logging profiles (``logging tls-profile P`` / ``client-id-trustpoint TP``)."""
        return [line.text.split()[1] for profile in cls.parsed(text).get_children(startswith="logging tls-profile ")
                for line in profile.get_children(startswith="client-id-trustpoint ")]

    @classmethod
    def pki_objects(cls, text: str) -> set[str]:
        """The trustpoints, ``crypto pki trustpoint NAME`` as ``show running-config`` prints them."""
        sections = cls.parsed(text).get_children(startswith="crypto pki trustpoint ")
        return {section.text.split()[3] for section in sections}

    def missing_routes(self, prefixes: Iterable[IPv4Network]) -> list[IPv4Network]:
        return [prefix for prefix in prefixes
                if "not in table" in self.send(f"show ip route {prefix.network_address}")]

    def _exec(self, command: str) -> str:
        """An EXEC command (configuration mode left first); LineRefused with the device's words if it refuses."""
        with session_errors():
            if self.conn.check_config_mode():
                self.conn.exit_config_mode()
            output = str(self.conn.send_command(command, read_timeout=60))
        refusal = self._refusal(output)
        if refusal:
            raise LineRefused(f"'{command}': {refusal}")
        return output

    def arm(self, seconds: int) -> None:
        """Enter configuration mode under the revert timer (the lines that follow are typed in it)."""
        if "Archive feature not enabled" in self.send("show archive"):
            self.send_lines(list(self.archive))
        elif self.pending():  # another session's change waits for its confirmation: not ours to confirm
            raise NetworkError("a Rollback Confirmed Change is pending on the device already (another session's): "
                               "'show archive config rollback timer' names its user")
        command = f"configure terminal revert timer {seconds // 60}"
        with session_errors():
            try:
                output = str(self.conn.config_mode(config_command=command))
            except ValueError as exc:  # netmiko: "Failed to enter configuration mode."
                output = str(exc)
        refusal = self._refusal(output) or ("" if self.conn.check_config_mode() else output.strip()[-200:])
        if refusal:
            raise NetworkError(f"cannot arm the revert timer ('{command}'): {refusal}")

    def pending(self) -> bool:
        return self.no_rollback_pending not in self._exec("show archive config rollback timer")

    def disarm(self) -> None:
        self._exec("configure confirm")

    def restore(self, backup: str) -> list[str]:
        """Under a running revert timer the device's own revert puts its archived copy back at once."""
        if self.armed is None:
            return super().restore(backup)
        self._exec("configure revert now")
        return ["configure revert now"]

    def send_lines(self, lines: list[str], exit_config_mode: bool = True) -> None:
        """A banner ("banner login ^", its text, "^": one remediation line) makes IOS print "Enter TEXT
        message.  End with the character '^'." and no prompt until the delimiter, so netmiko's check of
        each line's echo and prompt would wait out its read timeout: each banner goes in one write of its
        own (``cmd_verify=False``, as netmiko sends banners), the lines around it as usual."""
        start = 0
        for i, line in enumerate(lines):
            if not line.startswith("banner "):
                continue
            if lines[start:i]:
                super().send_lines(lines[start:i], exit_config_mode=False)
            with session_errors():
                try:
                    self.conn.send_config_set([line], cmd_verify=False, error_pattern=self.error_pattern,
                                              read_timeout=30, exit_config_mode=False)
                except ConfigInvalidException as exc:
                    self.leave_refused()
                    raise LineRefused(f"the device refused a line: {exc}") from None
            start = i + 1
        super().send_lines(lines[start:], exit_config_mode)  # no banner: every line as every platform sends

    @staticmethod
    def snmp_users(report: str) -> dict[str, str]:
        """``show snmp user``'s report as user -> group ("User name: U" ... "Group-name: G" per user)."""
        users: dict[str, str] = {}
        user = None
        for line in report.splitlines():
            m = re.match(r"^\s*(User name|Group-name):\s*(\S+)", line)
            if m and m.group(1) == "User name":
                user = m.group(2)
                users[user] = ""
            elif m and user is not None:
                users[user] = m.group(2)
        return users

    def absent_write_only(self, lines: list[str]) -> list[str]:
        """IOS keeps SNMPv3 users out of the running configuration; ``show snmp user`` lists them: a
        ``snmp-server user U G v3 ...`` line is sent when U is not listed or is in another group. The key
        is never shown, so a changed key on an existing user is not seen (docs/network.md)."""
        users = self.snmp_users(self.send("show snmp user"))
        out = []
        for line in lines:
            words = line.split()
            if words[:2] != ["snmp-server", "user"] or len(words) < 4 or users.get(words[2]) != words[3]:
                out.append(line)
        return out
