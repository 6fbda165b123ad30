"""Huawei VRP: every quirk of the platform lives in ``HuaweiVrpDriver`` (VRP V5, one stage: a line
takes effect when typed) and ``HuaweiVrpV8Driver`` (VRP V8, two stages: lines go to a candidate
that ``commit`` makes running).

VRP V5 has no trial commit, no revert timer: a change there has no dead man's switch (nothing is saved
before the post-checks, so a reload brings the saved configuration back, but someone must reload).
The push says so and refuses a change touching the management path (``mgmt_path``) unless the
operator allows it (``egov net push --allow-no-revert``). VRP V8's is ``commit trial N``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from ipaddress import IPv4Network
from typing import ClassVar

from hier_config import Platform
from netmiko.huawei.huawei import HuaweiSSH, HuaweiVrpv8SSH

from egov.errors import CommitFailed, NetworkError
from network.drivers.base import Driver, ipv4_network, session_errors


class HuaweiVrpDriver(Driver):
    """Huawei VRP: ``system-view``, ``quit`` leaves a section, ``undo`` negates, ``save`` asks to confirm."""

    platform = "huawei_vrp"
    netmiko_class = HuaweiSSH
    hier_platform = Platform.HUAWEI_VRP
    show_running = "display current-configuration"
    mgmt_interface = "MEth0/0/0"
    section_exit = "quit"
    negation = "undo "
    # VRP marks the refused word with a "^" line, then "Error: Unrecognized command found at '^' position.",
    # "Error: Wrong parameter found at '^' position.", "Error: Incomplete command found at '^' position.",
    # "Error: Too many parameters found at '^' position.", "Error: Ambiguous command found at '^' position."
    error_pattern = r"^\s*Error:.*$"
    # "[V300R019C10SPC300]" (AR), "!Software Version V800R021C10SPC100", "!Last configuration was updated at ...",
    # "!Last configuration was saved at ...", "#" between blocks (V8: " #" between the views inside a view),
    # "return" at the end
    noise = (r"^\s*#", r"^return$", r"^!", r"^\[V\d+R\d+")
    # VRP does not print the default hello (10 s) and dead (40 s) intervals, nor the default reference bandwidth
    unprinted_defaults = (r"^ ospf timer hello 10$", r"^ ospf timer dead 40$", r"^ bandwidth-reference 100$",
                          r"^ undo shutdown$")
    # VRP prints "irreversible-cipher $1c$...$" for a local user's password and "%^%#...%^%#" for shared keys
    secrets = (r"^\s*local-user \S+ password (irreversible-cipher|cipher) (?P<secret>\S+)$",
               r"^\s*hwtacacs-server shared-key cipher (?P<secret>\S+)$",
               r"^\s*ospf authentication-mode (md5|hmac-sha256) \d+ (cipher|plain) (?P<secret>\S+)$",
               r"^\s*snmp-agent usm-user v3 \S+ (authentication|privacy)-mode \S+ cipher (?P<secret>\S+)$",
               r"^\s*ntp-service authentication-keyid \d+ authentication-mode \S+ cipher (?P<secret>\S+)$")
    # VRP asks "[Y/N]" before these (uncertain for some releases); none has an answer safe to give unattended
    confirms = ((r"^rsa local-key-pair (create|destroy)", None), (r"^undo ip route-static all", None),
                (r"^undo (acl all|local-user all)", None), (r"^undo ip vpn-instance ", None))
    guard_rules = (
        ("the push's own login", r"^aaa / undo local-user {user}( |$)"),
        ("the push's own login", r"^undo ssh user {user}( |$)"),
        ("the management VRF", r"^undo ip vpn-instance {vrf}$"),
        ("the management VRF", r"^interface {mgmt} / undo ip binding vpn-instance"),
        ("the management routes", r"^undo ip route-static vpn-instance {vrf} "),
        ("the management routes", r"^undo ip route-static .*\b{mgmt}\b"),
        ("the management interface", r"^undo interface {mgmt}$"),
        ("the management interface", r"^interface {mgmt} / (?!description |undo description$|undo shutdown$)"),
        ("SSH access", r"^undo (stelnet|ssh) server"),
        ("SSH access (the VTY lines)", r"^undo user-interface vty"),
        ("SSH access (the VTY lines)", r"^user-interface vty [^/]+ / undo (protocol inbound|authentication-mode|acl)"),
        ("SSH access (the VTY lines)", r"^user-interface vty [^/]+ / protocol inbound (?!.*\b(ssh|all)\b)"),
        ("the console", r"^undo user-interface con"),
        ("the console", r"^user-interface con \d+ / (undo |authentication-mode )"),
    )
    mgmt_vrf_line = "ip binding vpn-instance "
    config_marker = r"^(#|\s*sysname |return$)"
    # "Info: Save the configuration successfully." / "Configuration file had been saved successfully"
    saved_marker = r"successfully"
    neighbour_command = "display ospf peer brief"
    neighbour_row = r"^\s*\S+\s+\S+\s+(?P<rid>\d+\.\d+\.\d+\.\d+)\s+(?P<state>\w+)\s*$"
    # V5 has no revert timer
    revert_range: ClassVar[tuple[int, int] | None] = None
    # what management depends on (a change's path, {mgmt} the management interface): a change here with no
    # dead man's switch could lock the device out for good, so it needs the operator's explicit consent
    mgmt_path = (r"^interface {mgmt}( |$)", r"^(undo )?user-interface ", r"^(undo )?acl number 200[01]( |$)",
                 r"^(undo )?(stelnet|ssh) ", r"^(undo )?aaa( |$)", r"^(undo )?hwtacacs-server ",
                 r"^(undo )?ip route-static ", r"^(undo )?ip vpn-instance ")

    @classmethod
    def printed(cls, text: str) -> str:
        """VRP closes every view with a "#" line and prints global commands with one leading space:
        the indented lines that open a block (before its first view) are global, not part of the
        view printed before the "#". ACL wildcards 0.0.0.0 are printed "0"."""
        out: list[str] = []
        lead: int | None = 0
        for line in text.splitlines():
            if line.startswith("#"):
                out.append(line)
                lead = None  # a new block: its first line says whether it starts with global commands
                continue
            if lead is None and line.strip():
                lead = len(line) - len(line.lstrip())
            if lead and line.startswith(" " * lead):
                line = line[lead:]
            elif line.strip() and not line.startswith(" "):
                lead = 0  # a view: what is indented below it belongs to it
            out.append(line)
        text = "\n".join(out)
        # `info-center loghost X` takes its options in any order and which order VRP prints them in is not in
        # the documents at hand: the port is compared last (as rendered)
        text = re.sub(r"^(info-center loghost \S+.*?)( port \d+)( .+)$", r"\1\3\2", text, flags=re.MULTILINE)
        return re.sub(r"^(\s*rule \d+ (permit|deny)( \S+)? source \S+) 0\.0\.0\.0$", r"\1 0", text, flags=re.MULTILINE)

    pki_kind = "SSL policy"

    @classmethod
    def syslog_pki(cls, text: str) -> list[str]:
        """The SSL policies of the log hosts (``info-center loghost X ... transport tcp ssl-policy NAME``)."""
        return [m.group(1) for section in cls.parsed(text).get_children(startswith="info-center loghost ")
                if (m := re.search(r" ssl-policy (\S+)", section.text))]

    @classmethod
    def pki_objects(cls, text: str) -> set[str]:
        """The SSL policies, ``ssl policy NAME`` views (holding the certificate and the trusted CA)."""
        return {section.text.split()[2] for section in cls.parsed(text).get_children(startswith="ssl policy ")}

    @classmethod
    def ssh_enabled(cls, text: str) -> bool:
        config = cls.parsed(text)
        enabled = any(section.text == "stelnet server enable" for section in config.children)
        vty = [section for section in config.children if section.text.startswith("user-interface vty")]
        return enabled and any(line.text.startswith("protocol inbound") and ("ssh" in line.text or "all" in line.text)
                               for section in vty for line in section.children)

    @classmethod
    def ssh_sources(cls, text: str) -> list[IPv4Network] | None:
        config = cls.parsed(text)
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
                    wildcard = m.group(2) if m and m.group(2) != "0" else "0.0.0.0"
                    net = ((ipv4_network(m.group(1), wildcard) if m.group(1) else IPv4Network("0.0.0.0/0"))
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

    @classmethod
    def aaa_fallback_problem(cls, text: str) -> str | None:
        """Only the schemes a domain uses count ("default" for a domain that names none): VRP ships
        unused schemes such as "radius"."""
        aaa = cls.parsed(text).get_child(equals="aaa")
        if aaa is None:
            return None
        used = {next((line.text.split()[1] for line in domain.get_children(startswith="authentication-scheme ")),
                     "default") for domain in aaa.get_children(startswith="domain ")}
        for scheme in aaa.get_children(startswith="authentication-scheme "):
            if scheme.text.split()[1] not in used:
                continue
            for mode in scheme.get_children(startswith="authentication-mode "):
                methods = set(mode.text.split()[1:])
                if methods & {"hwtacacs", "radius"} and not methods & {"local", "none"}:
                    return (f"'{scheme.text} / {mode.text}' has no local fallback: logins fail while the AAA "
                            "servers are unreachable")
        if not any(re.match(r"^local-user \S+ password ", line.text) for line in aaa.children):
            return "AAA falls back to local users and the configuration would have none (a 'local-user ... password')"
        return None

    def save(self, **kwargs: object) -> None:
        # "Warning: The current configuration will be written to the device. Continue? [Y/N]:" answered y
        super().save(cmd="save", confirm=True, confirm_response="y")

    def missing_routes(self, prefixes: Iterable[IPv4Network]) -> list[IPv4Network]:
        return [prefix for prefix in prefixes
                if str(prefix.network_address) not in self.send(
                    f"display ip routing-table {prefix.network_address} {prefix.prefixlen}")]


class HuaweiVrpV8Driver(HuaweiVrpDriver):
    """Huawei VRP V8 (NE, CE, NetEngine 8000): two-stage configuration. Lines typed in system view
    (``[~r1]``) go to a candidate; ``commit`` makes them running ("Error: ..." if it refuses);
    leaving with uncommitted lines asks "[Y(yes)/N(no)/C(cancel)]", so a refusal first discards them
    (``clear configuration candidate``, uncertain on releases before V800R010)."""

    platform = "huawei_vrpv8"
    syntax = "huawei_vrp"
    netmiko_class = HuaweiVrpv8SSH
    # "!Software Version V800R021C10SPC100" heads its "display current-configuration"
    config_marker = r"^(!Software Version|#|\s*sysname |return$)"

    # the trial (NetEngine 8000 command reference, "commit", "abort trial"): "commit trial N" (60 to 65535 s) prints
    # "Info: The system enters the trial configuration mode. The system will revert to previous configuration if
    # the trial configuration is not confirmed in N seconds."; "commit" confirms it; "abort trial" reverts at once
    revert_range = (60, 65535)
    revert_starts_at_begin = False
    trial_started = "enters the trial configuration mode"
    # "display configuration trial status" (uncertain: the wording is not in the documents at hand): a running
    # trial reads "Trial Status : Running" with the time left, none "Trial Status : Not running"
    trial_running = r"Trial Status\s*:\s*Running"

    def arm(self, seconds: int) -> None:
        """Nothing to arm yet: the lines go to the candidate, and the trial starts with ``commit trial`` in
        ``apply``; another session's trial running is not ours to confirm."""
        if self.pending():
            raise NetworkError("a trial configuration is running on the device already (another session's): "
                               "'display configuration trial status'")

    def apply(self, lines: list[str]) -> None:
        self.send_lines(lines, exit_config_mode=False)
        command, marker = ((f"commit trial {self.armed.seconds}", self.trial_started) if self.armed is not None
                           else ("commit", ""))
        with session_errors():
            try:
                output = str(self.conn.send_command(command, expect_string=r"[>\]]\s*$", read_timeout=120))
            except ValueError as exc:  # netmiko: "Commit failed with following errors"
                self.leave_refused()
                raise CommitFailed(f"the device refused the commit: {exc}") from None
        refusal = self._refusal(output)
        if refusal or marker not in output:
            self.leave_refused()
            raise CommitFailed(f"the device refused '{command}': {refusal or output.strip()[-200:]}")
        if self.armed is not None:
            self.armed.start()

    def _system_view(self, command: str) -> str:
        """A command typed in system view (where ``commit`` and ``abort trial`` live)."""
        with session_errors():
            if not self.conn.check_config_mode():
                self.conn.config_mode()
            output = str(self.conn.send_command(command, expect_string=r"[>\]]\s*$", read_timeout=120))
        refusal = self._refusal(output)
        if refusal:
            raise CommitFailed(f"'{command}': {refusal}")
        return output

    def pending(self) -> bool:
        return re.search(self.trial_running, self.send("display configuration trial status")) is not None

    def disarm(self) -> None:
        self._system_view("commit")

    def save(self, **kwargs: object) -> None:
        with session_errors():
            if self.conn.check_config_mode():
                self.conn.exit_config_mode()
        super().save(**kwargs)

    def restore(self, backup: str) -> list[str]:
        """Under a running trial the device's own revert (``abort trial``) puts the previous configuration back;
        before it (the commit failed) the candidate is already discarded and nothing changed."""
        if self.armed is None:
            return super().restore(backup)
        if not self.armed.started:
            return []
        # "Warning: The trial configuration will be aborted... Continue? [Y/N]:" (uncertain wording) answered y
        with session_errors():
            if not self.conn.check_config_mode():
                self.conn.config_mode()
            output = str(self.conn.send_command("abort trial", expect_string=r"\[Y/N\]|[>\]]\s*$",
                                                strip_prompt=False))
            if "[Y/N]" in output:
                output += str(self.conn.send_command("y", expect_string=r"[>\]]\s*$", strip_prompt=False))
            self.conn.exit_config_mode()
        refusal = self._refusal(output)
        if refusal:
            raise NetworkError(f"'abort trial': {refusal}")
        return ["abort trial"]

    def leave_refused(self) -> None:
        """Discard the uncommitted candidate, then leave system view (no question is left to answer)."""
        self.conn.send_config_set(["clear configuration candidate"], exit_config_mode=False, cmd_verify=False)
        self.conn.exit_config_mode()

