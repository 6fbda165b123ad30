"""The base driver: what every platform shares. Each platform's module (``frr``, ``cisco_ios``,
``huawei_vrp``, ``juniper_junos``) holds every quirk of that platform; ``network.drivers``
maps platform names to them.

A driver knows two things about its platform:

- the configuration text (class methods, no device needed, unit-tested): how to read what the
  device prints (its headers, separators, hashed secrets, the defaults it does not print) so it
  compares with what we render, the remediation (hier-config) within the router's managed scope
  (``scope.Scope``) as the exact lines to send, and what a configuration says about management
  access (``network.guard``);
- the session (methods on an open netmiko connection): read the running configuration (privileged,
  and checked to be one), send lines stopping at the first one the device rejects and answering the
  confirmations it asks for, save (checked), restore, and read OSPF neighbours and routes.
  netmiko's failures on the session become NetworkError subclasses (``session_errors``);
- the transaction (the dead man's switch): ``begin`` arms the device's own revert timer before the
  first line, ``apply`` sends the lines, ``confirm`` (after the post-checks) reads the timer back,
  cancels it and saves, ``abort`` takes the change back now; each platform says it in its own words
  (IOS ``configure terminal revert timer``, Junos ``commit confirmed``, VRP V8 ``commit trial``, FRR
  the router's ``egov-revert``), and one that has no timer (VRP V5) says so (``revert_range`` None).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import ClassVar

from hier_config import HConfig, Platform, WorkflowRemediation, get_hconfig
from netmiko import BaseConnection, ConfigInvalidException, NetmikoTimeoutException, ReadTimeout
from paramiko.ssh_exception import SSHException

from egov.errors import DeviceTimeout, DeviceUnreachable, LineRefused, NetworkError, RevertExpired, UnexpectedOutput
from network.drivers.scope import FULL, Scope

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


SECRET = "<secret>"
# configurations parsed for reading (Driver.parsed), by driver class and text; a lost race only parses twice
_PARSED: dict[tuple[str, str], HConfig] = {}


@dataclass
class Remediation:
    """A remediation: the exact lines to send, each change with the sections it is made in
    (secrets masked), and the configuration the device holds afterwards (as hier-config predicts it)."""

    lines: list[str]
    changes: list[tuple[str, ...]]
    result: str
    # intended lines the device never prints (the scope's ``write_only``): not in ``lines``; sent only where
    # the device's own report says they are absent (``Driver.absent_write_only``)
    write_only: list[str] = field(default_factory=list)


# how a device's transaction ended, as a push reports it
CONFIRMED = "confirmed and saved"
REVERTED = "reverted by egov"
EXPIRED = "reverted by the device's revert timer"
NEEDS_CONSOLE = "needs a console"


def left_to_timer(seconds: int) -> str:
    return f"left to the device's revert timer ({seconds} s)"


@dataclass
class Armed:
    """The device's dead man's switch, armed: it reverts by itself ``seconds`` after ``at`` (monotonic)
    unless the change is confirmed. ``started``: the timer counts (IOS, FRR: from ``begin``; Junos and
    VRP V8: from the confirmed or trial commit that makes the candidate running, before which nothing
    has changed on the device)."""

    seconds: int
    started: bool = True
    at: float = field(default_factory=time.monotonic)

    def start(self) -> None:
        self.started, self.at = True, time.monotonic()

    def left(self) -> int:
        return max(0, math.ceil(self.at + self.seconds - time.monotonic()))


# the confirmation questions devices ask in the middle of a command
CONFIRM_PROMPT = r"(\[confirm\]|\[yes/no\]|\[Y/N\]|\[y/n\]|\[Y\(yes\)/N\(no\)(/C\(cancel\))?\])\s*:?\s*$"


class Driver:
    """The base: what every platform shares. Subclasses change class attributes and override hooks."""

    platform: ClassVar[str]
    # the configuration language (templates, managed scope); the platform's own name unless a subclass says
    syntax: ClassVar[str]
    netmiko_class: ClassVar[type[BaseConnection]]
    hier_platform: ClassVar[Platform]
    show_running: ClassVar[str] = "show running-config"
    # a line of output matching this means the device refused the line just sent
    error_pattern: ClassVar[str] = r"^\s*% ?(Invalid|Incomplete|Ambiguous|Unknown).*$"
    # what the device prints around its configuration that is no configuration (headers, separators, stamps)
    noise: ClassVar[tuple[str, ...]] = (r"^!", r"^end$", r"^Building configuration", r"^Current configuration")
    # lines (as printed, indentation included) of values the platform never prints because they are its
    # defaults: dropped on both sides, so rendering one does not diff forever
    unprinted_defaults: ClassVar[tuple[str, ...]] = ()
    # lines whose secret (the group "secret") the device prints hashed: compared without it
    secrets: ClassVar[tuple[str, ...]] = ()
    # (line, answer) for lines the device asks to confirm; a None answer: the line is never sent
    confirms: ClassVar[tuple[tuple[str, str | None], ...]] = ()
    # the prompt of a session that may read the configuration (None: any prompt)
    privileged_prompt: ClassVar[str | None] = None
    # a configuration, as this device prints one, matches this (anything else is an error message)
    config_marker: ClassVar[str] = r"^(Building configuration|Current configuration|hostname )"
    # what the save command prints when it worked
    saved_marker: ClassVar[str] = r"\[OK\]"
    # the line that leaves a configuration section (None: flat, set-style configuration)
    section_exit: ClassVar[str | None] = "exit"
    # the prefix that negates a line
    negation: ClassVar[str] = "no "
    # the platform's default out-of-band management interface: a router's own is its model's
    # (``Router.mgmt_interface``), which the guard and the scope take when there is one
    mgmt_interface: ClassVar[str]
    # the line of the management interface's section that names its VRF (None: the platform has none there)
    mgmt_vrf_line: ClassVar[str | None] = None
    # (pattern, replacement) rewrites of remediation lines the device's CLI wants said differently
    rewrites: ClassVar[tuple[tuple[str, str], ...]] = ()
    # the lock-out guard's rules over what is sent (network.guard): (what it protects, a regular expression
    # over a change's path, with {user} the session's login, {vrf} the management VRF, {mgmt} its interface)
    guard_rules: ClassVar[tuple[tuple[str, str], ...]] = ()
    # the OSPF neighbour table: the show command, and a row's pattern naming the groups "rid" and "state"
    neighbour_command: ClassVar[str]
    neighbour_row: ClassVar[str]
    # the device's own revert timer: the unit it counts in (seconds; IOS and Junos count minutes) and its
    # range in that unit; None: the platform has none (a change there has no dead man's switch)
    revert_unit: ClassVar[int] = 1
    revert_range: ClassVar[tuple[int, int] | None] = (10, 86400)
    # the timer starts with ``begin`` (False: with the commit that makes the candidate running)
    revert_starts_at_begin: ClassVar[bool] = True
    # where there is no timer: what management depends on, as regular expressions over a change's path ({mgmt}:
    # the management interface); a change there needs the operator's consent (``egov net push --allow-no-revert``)
    mgmt_path: ClassVar[tuple[str, ...]] = ()
    # the timer armed on this session's device (None: not armed, or the platform has none)
    armed: Armed | None = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "platform" in cls.__dict__ and "syntax" not in cls.__dict__:
            cls.syntax = cls.platform

    def __init__(self, conn: BaseConnection, scope: Scope = FULL) -> None:
        self.conn = conn
        self.scope = scope

    # ---- configuration text ----------------------------------------------------------------

    @classmethod
    def printed(cls, text: str) -> str:
        """Hook: the device's text with its own printing conventions undone (before ``normalise``)."""
        return text

    @classmethod
    def unmasked(cls, text: str) -> str:
        """The configuration as hier-config should read it, secrets still in: noise, blank lines and
        unprinted defaults dropped, the platform's own printing undone."""
        drop = [re.compile(p) for p in (*cls.noise, *cls.unprinted_defaults)]
        kept = [line.rstrip() for line in cls.printed(text).splitlines()
                if line.strip() and not any(pattern.search(line) for pattern in drop)]
        return "\n".join(kept) + "\n"

    @classmethod
    def mask(cls, line: str) -> str:
        """A line with its secret replaced by ``SECRET`` (the device prints a hash of it)."""
        for pattern in cls.secrets:
            m = re.search(pattern, line)
            if m:
                return line[:m.start("secret")] + SECRET + line[m.end("secret"):]
        return line

    @classmethod
    def normalise(cls, text: str) -> str:
        """The configuration as hier-config compares it (``unmasked``, secrets masked)."""
        return "".join(cls.mask(line) + "\n" for line in cls.unmasked(text).splitlines())

    @classmethod
    def hconfig(cls, text: str) -> HConfig:
        try:
            return get_hconfig(cls.hier_platform, cls.normalise(text))
        except Exception as exc:  # noqa: BLE001 - hier-config raises several types for unparsable text
            raise NetworkError(f"{cls.platform}: cannot parse the configuration: {type(exc).__name__}: {exc}") from None

    @classmethod
    def parsed(cls, text: str) -> HConfig:
        """``hconfig(text)`` to read, never to change (cached: the guard reads one configuration several times)."""
        key = (cls.__qualname__, text)
        if key not in _PARSED:
            if len(_PARSED) >= 64:  # a push reads each device's configurations in turn: keep the latest
                _PARSED.clear()
            _PARSED[key] = cls.hconfig(text)
        return _PARSED[key]

    @classmethod
    def remediate(cls, running: str, intended: str, scope: Scope = FULL) -> Remediation:
        """What a push sends to turn ``running`` into ``intended`` within ``scope``, and what it changes."""
        running_config, intended_config = cls.hconfig(running), cls.hconfig(intended)
        write_only = scope.take_write_only(running_config, intended_config)
        whole = running_config.deep_copy()
        scope.limit(running_config, intended_config)
        workflow = WorkflowRemediation(running_config, intended_config)
        changes = [tuple(entry.path()) for entry in workflow.remediation_config.all_children_sorted()
                   if not entry.children]
        result = whole.future(workflow.remediation_config)
        lines = cls.adjust(cls.to_lines(workflow.remediation_config), running)
        for pattern, replacement in cls.rewrites:
            lines = [re.sub(pattern, replacement, line) for line in lines]
        return Remediation(cls._with_secrets(lines, running, intended), changes, "\n".join(result.lines()) + "\n",
                           cls._with_secrets(write_only, running, intended))

    @classmethod
    def remediation(cls, running: str, intended: str, scope: Scope = FULL) -> list[str]:
        """The exact lines that turn ``running`` into ``intended`` within ``scope``, in the order to send them."""
        return cls.remediate(running, intended, scope).lines

    @classmethod
    def _with_secrets(cls, lines: list[str], running: str, intended: str) -> list[str]:
        """Put the secrets back into masked lines: an addition takes the intended line, a negation the running one."""
        def originals(text: str) -> dict[str, str]:
            return {cls.mask(line.strip()): line.strip() for line in cls.unmasked(text).splitlines()}

        wanted, present = originals(intended), originals(running)
        out = []
        for line in lines:
            if SECRET in line:
                negated = line.removeprefix(cls.negation)
                line = (wanted.get(line) or (cls.negation + present[negated] if negated in present else line))
            out.append(line)
        return out

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

    @classmethod
    def unanswerable(cls, lines: list[str]) -> list[str]:
        """The lines the device would ask to confirm and that no answer is known for (never sent)."""
        return [line for line in lines
                for pattern, answer in cls.confirms if answer is None and re.search(pattern, line)]

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
    def mgmt_vrf(cls, text: str, mgmt: str | None = None) -> str | None:
        """The VRF or routing instance the management interface (``mgmt``, else the platform's) is in
        (None: the global table)."""
        section = cls.parsed(text).get_child(equals=f"interface {mgmt or cls.mgmt_interface}")
        line = (section.get_child(startswith=cls.mgmt_vrf_line)
                if section is not None and cls.mgmt_vrf_line is not None else None)
        return line.text.split()[-1] if line is not None else None

    @classmethod
    def aaa_fallback_problem(cls, text: str) -> str | None:
        """Why logins would have no way in when the AAA servers are unreachable (None: they have one)."""
        return None

    # what the platform calls the PKI object TLS logging names (the router's certificate and the platform CA)
    pki_kind: ClassVar[str] = "PKI object"

    @classmethod
    def syslog_pki(cls, text: str) -> list[str]:
        """The PKI objects the configuration's TLS logging names (none: no TLS logging, or a platform
        whose configuration holds none: FRR's host forwards)."""
        return []

    @classmethod
    def pki_objects(cls, text: str) -> set[str]:
        """The PKI objects the configuration holds, of the kind ``syslog_pki`` names."""
        return set()

    @classmethod
    def shutdown_interfaces(cls, text: str) -> list[str]:
        """Interfaces the configuration shuts down."""
        config = cls.parsed(text)
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

    def login_user(self) -> str:
        """The user this session logged in as (the push's own login, which the guard protects)."""
        return str(self.conn.username)

    def send(self, command: str, read_timeout: float = 10.0) -> str:
        """The output of one show command."""
        with session_errors():
            return str(self.conn.send_command(command, read_timeout=read_timeout))

    def running(self) -> str:
        """The running configuration, read from a session privileged to read all of it, and refused
        when what came back is an error message instead of a configuration."""
        if self.privileged_prompt is not None:
            with session_errors():
                prompt = str(self.conn.find_prompt())
            if not re.search(self.privileged_prompt, prompt):
                raise UnexpectedOutput(f"the session is not privileged (prompt {prompt!r}): the login must land in "
                                       f"privileged mode to read the whole configuration")
        text = self.send(self.show_running, read_timeout=60)
        self.check_configuration(text, f"'{self.show_running}' did not print a configuration")
        return text

    @classmethod
    def check_configuration(cls, text: str, what: str) -> None:
        """Refuse ``text`` unless it is a configuration as this platform prints one (not an error message)."""
        refusal = re.search(cls.error_pattern, text, re.MULTILINE)
        if refusal or not re.search(cls.config_marker, text, re.MULTILINE):
            first = (refusal.group(0) if refusal else text.strip()[:120]).strip()
            raise UnexpectedOutput(f"{what}: {first!r}")

    def _refusal(self, output: str) -> str | None:
        m = re.search(self.error_pattern, output, re.MULTILINE)
        return m.group(0).strip() if m else None

    def send_lines(self, lines: list[str], exit_config_mode: bool = True) -> None:
        """Type ``lines`` in configuration mode, stopping at the first one the device refuses; a line
        the device asks to confirm is answered as ``confirms`` says."""
        refused = self.unanswerable(lines)
        if refused:
            raise LineRefused(f"'{refused[0]}' makes the device ask for a confirmation that has no safe answer; "
                              "it is never sent (make that change by hand)")
        with session_errors():
            try:
                batch: list[str] = []
                for line in lines:
                    answer = next((a for p, a in self.confirms if re.search(p, line)), None)
                    if answer is None:
                        batch.append(line)
                        continue
                    if batch:
                        self.conn.send_config_set(batch, error_pattern=self.error_pattern, read_timeout=30,
                                                  exit_config_mode=False)
                        batch = []
                    self._confirmed(line, answer)
                self.conn.send_config_set(batch, error_pattern=self.error_pattern, read_timeout=30,
                                          exit_config_mode=exit_config_mode)
            except ConfigInvalidException as exc:
                self.leave_refused()
                raise LineRefused(f"the device refused a line: {exc}") from None

    def _confirmed(self, line: str, answer: str) -> None:
        """Send a line the device asks to confirm and answer the question."""
        prompt = f"{CONFIRM_PROMPT}|{re.escape(self.conn.base_prompt)}"
        output = str(self.conn.send_command(line, expect_string=prompt, strip_prompt=False, strip_command=False,
                                            cmd_verify=False))
        if re.search(CONFIRM_PROMPT, output, re.MULTILINE):
            output += str(self.conn.send_command(answer, expect_string=re.escape(self.conn.base_prompt),
                                                 strip_prompt=False, strip_command=False, cmd_verify=False))
        refusal = self._refusal(output)
        if refusal:
            raise ConfigInvalidException(f"Invalid input detected at line {line!r}: {refusal}")

    def leave_refused(self) -> None:
        """Hook: leave configuration mode after a refused line."""
        self.conn.exit_config_mode()

    def apply(self, lines: list[str]) -> None:
        """Send lines in configuration mode; stop at the first one the device refuses."""
        self.send_lines(lines)

    def save(self, **kwargs: object) -> None:
        """Save the running configuration; refused unless the device says it saved."""
        with session_errors():
            output = str(self.conn.save_config(**kwargs))  # type: ignore[arg-type]
        if not re.search(self.saved_marker, output):
            raise UnexpectedOutput(f"the device did not confirm the save: {output.strip()[-200:]!r}")

    # ---- the transaction: the device's own dead man's switch ----------------------------------

    @classmethod
    def management_changes(cls, changes: list[tuple[str, ...]], mgmt: str | None = None) -> list[str]:
        """The changes (their paths, ``a / b``) that touch the management path (``mgmt_path``)."""
        patterns = [re.compile(p.replace("{mgmt}", re.escape(mgmt or cls.mgmt_interface))) for p in cls.mgmt_path]
        paths = [" / ".join(change) for change in changes]
        return [path for path in paths if any(pattern.search(path) for pattern in patterns)]

    @classmethod
    def revert_seconds(cls, window: float) -> int:
        """The timer a run that needs ``window`` seconds arms: rounded up to the device's unit, within its range."""
        low, high = cls.revert_range or (0, 0)
        return min(max(math.ceil(window / cls.revert_unit), low), high) * cls.revert_unit

    def begin(self, window: float) -> None:
        """Arm the device's revert timer for (at least) ``window`` seconds, before the first line is sent.
        A platform without one arms nothing (``armed`` stays None)."""
        if self.revert_range is None:
            return
        seconds = self.revert_seconds(window)
        self.arm(seconds)
        self.armed = Armed(seconds, started=self.revert_starts_at_begin)

    def arm(self, seconds: int) -> None:
        """Hook: start the device's revert timer."""
        raise NotImplementedError

    def pending(self) -> bool:
        """Hook: whether the device's revert timer still runs, by the device's own report."""
        raise NotImplementedError

    def disarm(self) -> None:
        """Hook: cancel the device's revert timer, keeping the change (RevertExpired if it already fired)."""
        raise NotImplementedError

    def expired(self) -> RevertExpired:
        seconds = self.armed.seconds if self.armed is not None else 0
        return RevertExpired(f"the device's revert timer ({seconds} s) fired before the change was confirmed: "
                             "the device has put its previous configuration back")

    def confirm(self) -> None:
        """After the post-checks passed: read the revert timer back (RevertExpired when the device has
        reverted already), cancel it, then save the configuration."""
        if self.armed is not None:
            if self.armed.started and not self.pending():
                raise self.expired()
            self.disarm()
            self.armed = None
        self.save()

    def abort(self, backup: str) -> str:
        """Take the change back now; says how it ended (``REVERTED``, or ``EXPIRED`` when the device's
        own timer did it first)."""
        if self.armed is not None and self.armed.started and not self.pending():
            self.armed = None
            return EXPIRED
        self.restore(backup)
        self.armed = None
        return REVERTED

    def restore(self, backup: str) -> list[str]:
        """Bring the running configuration back to ``backup`` (within the scope), then cancel the revert
        timer, which has nothing left to do; returns the lines sent."""
        lines = self.remediation(self.running(), backup, self.scope.widened())
        if lines:
            self.apply(lines)
        if self.armed is not None:
            try:
                self.disarm()
            except RevertExpired:
                pass  # the device put the same configuration back itself
        return lines

    def absent_write_only(self, lines: list[str]) -> list[str]:
        """Hook: of the write-only ``lines`` (which the running configuration never shows), those the device's
        own report says it lacks. Without a report to ask, every one is sent."""
        return lines

    def neighbours(self) -> dict[str, str]:
        """OSPF neighbours: router id -> state, lower case (``full``, ``init``, ...)."""
        output = self.send(self.neighbour_command)
        return {m["rid"]: m["state"].lower() for m in re.finditer(self.neighbour_row, output, re.MULTILINE)}

    def missing_routes(self, prefixes: Iterable[IPv4Network]) -> list[IPv4Network]:
        """The prefixes no route of the routing table covers (a default route counts)."""
        raise NotImplementedError

