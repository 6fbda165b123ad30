"""FRRouting 8.x over vtysh.

FRR has no netmiko driver and no hier-config platform: ``FrrVtyshSSH`` drives vtysh as a login
shell, and FRR's text is normalised (``exit``/``end``/``!`` lines and version stamps dropped)
so hier-config's Cisco IOS rules compute its remediation.

Its dead man's switch is the router's own ``egov-revert`` (lab/images/router): armed over an exec
channel of the push's SSH connection, it snapshots the running configuration and, unless cancelled,
puts it back (``frr-reload.py``) from a transient systemd timer, whatever becomes of the session.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from ipaddress import IPv4Network
from typing import Any

from netmiko.cisco.cisco_ios import CiscoIosBase

from egov.errors import NetworkError
from network.drivers.base import Driver, session_errors
from network.drivers.cisco_ios import IosLikeDriver


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
        """vtysh hands an integrated write to watchfrr and prints its answer ("Integrated configuration
        saved ...", "[OK]", or "% Configuration write already in progress") when watchfrr is done: on a
        busy router that comes well after text netmiko takes for the prompt (seen with 198 routers at
        once: the output cut before "[OK]"). Wait for the answer itself."""
        return self._send_command_str(cmd, expect_string=r"(?m)\[OK\]|^% .*$", strip_prompt=False,
                                      strip_command=False, read_timeout=100.0)


class FrrDriver(IosLikeDriver):
    """FRRouting 8.x over vtysh."""

    platform = "frr"
    netmiko_class = FrrVtyshSSH
    mgmt_interface = "eth0"
    # FRR's refusals: "% Unknown command", "% Command incomplete", "Must remove previous area config ...",
    # "% Malformed address", "Only inactive interfaces can be deleted", "There is no ..."
    error_pattern = r"^\s*(% |Must |Only |Can't |Cannot |There is no |Error).*$"
    noise = (*Driver.noise, r"^\s*exit$", r"^exit-vrf$", r"^frr (version|defaults) ")
    # FRR does not print a value that equals its default: never compare those either
    unprinted_defaults = (r"^ ip ospf hello-interval 10$", r"^ ip ospf dead-interval 40$",
                          r"^ timers throttle spf 0 50 5000$", r"^ auto-cost reference-bandwidth 100000$")
    # vtysh's user is a Linux account (sshd and PAM on the router's host manage it): only the interface matters
    guard_rules = (
        ("the management interface", r"^no interface {mgmt}$"),
        ("the management interface", r"^interface {mgmt} / (?!description |no description$)"),
    )
    privileged_prompt = r"#\s*$"
    config_marker = r"^(Building configuration|Current configuration|frr version )"
    # "write memory": "Integrated configuration saved to /etc/frr/frr.conf" then "[OK]"
    saved_marker = r"\[OK\]|Integrated configuration saved"
    # "no area X stub no-summary" only drops no-summary and leaves the area stub
    # "no description" takes no text
    rewrites = ((r"^no area (\S+) stub no-summary$", r"no area \1 stub"), (r"^no description .*$", "no description"))

    @classmethod
    def adjust(cls, lines: list[str], running: str) -> list[str]:
        """FRR refuses "no interface X" while the kernel has X ("% Configuration failed"):
        empty the section line by line instead."""
        sections = {section.text: section for section in cls.parsed(running).children
                    if section.text.startswith("interface ")}
        out: list[str] = []
        for line in lines:
            section = sections.get(line.removeprefix("no ")) if line.startswith("no interface ") else None
            if section is None:
                out.append(line)
            else:
                out += [section.text, *(f"no {child.text}" for child in section.children), "exit"]
        return out

    # egov-revert's words (lab/images/router/egov-revert): "armed: revert in N s", "pending N",
    # "cancelled", "expired: reverted at T", "none"; exit 4 when the timer had already fired
    revert_command = "egov-revert"
    revert_expired_rc = 4

    def _revert(self, *args: str) -> tuple[int, str]:
        """Run the router's ``egov-revert ARGS`` over an exec channel of this session's SSH connection
        (the login shell hands it to the script, not to vtysh); its exit code and output."""
        with session_errors():
            transport = self.conn.remote_conn_pre.get_transport()  # type: ignore[union-attr]
            if transport is None or not transport.is_active():
                raise EOFError("the SSH connection is closed")
            channel = transport.open_session(timeout=10)
            try:
                channel.settimeout(30)
                channel.exec_command(" ".join((self.revert_command, *args)))
                output = channel.makefile("rb").read().decode(errors="replace")
                rc = channel.recv_exit_status()
            finally:
                channel.close()
        return rc, output.strip()

    def arm(self, seconds: int) -> None:
        rc, output = self._revert("arm", str(seconds))
        if rc != 0 or not output.startswith("armed"):
            raise NetworkError(f"cannot arm the router's revert timer: {output or f'exit {rc}'}")

    def pending(self) -> bool:
        rc, output = self._revert("status")
        if rc != 0:
            raise NetworkError(f"cannot read the router's revert timer: {output or f'exit {rc}'}")
        return output.startswith("pending")

    def disarm(self) -> None:
        rc, output = self._revert("cancel")
        if rc == self.revert_expired_rc:
            raise self.expired()
        if rc != 0:
            raise NetworkError(f"cannot cancel the router's revert timer: {output or f'exit {rc}'}")

    def confirm(self) -> None:
        """``egov-revert cancel`` is the pending check and the cancel at once (under the script's lock),
        so a timer that fires between the two cannot revert a change reported confirmed."""
        if self.armed is not None:
            self.disarm()
            self.armed = None
        self.save()

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
        table = [IPv4Network(route) for route in self._json("show ip route json")]
        return [prefix for prefix in prefixes if not any(prefix.subnet_of(route) for route in table)]

    def _json(self, command: str) -> dict[str, Any]:
        output = self.send(command)
        try:
            data = json.loads(output[output.find("{"):] if "{" in output else "{}")
        except json.JSONDecodeError:
            raise NetworkError(f"'{command}' did not answer JSON: {output[:200]!r}") from None
        return data if isinstance(data, dict) else {}
