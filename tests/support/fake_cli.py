"""Devices as netmiko sees them: a fake SSH channel that answers each line the way the vendor's CLI
does (its prompts per mode, its error messages, its confirmation questions, its save and commit
reports), under a real netmiko connection object (``connection``), so the drivers' error patterns,
prompt handling, privilege and save checks run through netmiko's own code.

The transcripts follow the vendors' documentation: Cisco IOS XE "Using the Command-Line Interface"
(``% Invalid input detected at '^' marker.``, ``% Incomplete command.``, ``% Ambiguous command:``,
``[confirm]``, ``write memory`` -> ``[OK]``), Huawei VRP "CLI Overview" (``Error: Unrecognized command
found at '^' position.``, ``[Y/N]``, ``save`` -> ``Info: Save the configuration successfully.``, V8's
``[~r1]`` prompt and ``commit``), Junos "CLI User Guide" (``[edit]``, ``syntax error.``,
``error: configuration check-out failed``, ``commit complete``).

Each device's dead man's switch (``RevertTimer``: armed, confirmed, expired) answers as documented:
Cisco IOS XE "Configuration Rollback Confirmed Change" and "Configuration Archive" (``configure terminal
revert timer``, ``show archive``, ``show archive config rollback timer``, ``configure confirm``,
``configure revert now``), Junos "commit confirmed" and "show system commit", Huawei NetEngine 8000
"commit trial" and "abort trial" (uncertain wordings marked where they are), and the lab router's
``egov-revert`` (lab/images/router/egov-revert) over an SSH exec channel (``FakeSshClient``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netmiko import BaseConnection

# a reply: text, a question and what each answer prints, or what a stateful device prints for the line
# (it may change the CLI's mode)
Reply = str | tuple[str, dict[str, str]] | Callable[["FakeCli", str], str]


@dataclass
class RevertTimer:
    """A device's own revert timer: ``state`` is "none", "pending" (armed for ``value`` in the device's
    unit), "confirmed" or "expired"; the test fires it with ``expire()``."""

    state: str = "none"
    value: int = 0
    archive: bool = True        # IOS: the configuration archive is configured
    locked_by: str = ""         # Junos: another session holds "configure exclusive"

    def arm(self, value: int) -> None:
        self.state, self.value = "pending", value

    def expire(self) -> None:
        self.state = "expired"


class FakeCli:
    """One device's CLI: ``modes`` maps a mode to its prompt; ``replies`` maps a line (regular expression)
    to its reply in any mode; ``enter``/``leave`` are the lines that enter and leave configuration mode."""

    def __init__(self, prompts: dict[str, str], enter: dict[str, tuple[str, str]], leave: set[str],
                 replies: list[tuple[str, Reply]], mode: str = "exec", text_entry: str | None = None,
                 timer: RevertTimer | None = None) -> None:
        self.prompts, self.enter, self.leave, self.replies = prompts, enter, leave, replies
        self.mode = mode
        self.timer = timer or RevertTimer()
        # a line (regular expression, the delimiter its group 1) that starts free text ended by the delimiter
        self.text_entry = text_entry
        self.delimiter: str | None = None  # inside free text: no prompt until the delimiter
        self.texts: list[list[str]] = []  # each free text the device took, line by line
        self.buffer = ""
        self.received: list[str] = []
        self.question: dict[str, str] | None = None
        self.answered: list[tuple[str, str]] = []  # (the line that asked, the answer it got)

    def prompt(self) -> str:
        return self.prompts[self.mode]

    def answer(self, line: str) -> str:
        """What the device prints after ``line`` (before its next prompt or question)."""
        if self.delimiter is not None:
            if self.delimiter in line:
                self.delimiter = None
            else:
                self.texts[-1].append(line)
            return ""
        if self.text_entry is not None and (m := re.search(self.text_entry, line)):
            self.delimiter = m.group(1)
            self.texts.append([])
            return f"Enter TEXT message.  End with the character '{self.delimiter}'."
        if self.question is not None:
            question, self.question = self.question, None
            self.answered.append((self.received[-2] if line else self.received[-1], line))
            return question.get(line.strip().lower(), question.get("*", ""))
        if line in self.enter:
            self.mode, text = self.enter[line]
            return text
        if line in self.leave:
            self.mode = "exec"
            return ""
        for pattern, reply in self.replies:
            if re.search(pattern, line):
                if callable(reply):  # a stateful device
                    return reply(self, line)
                if isinstance(reply, tuple):
                    text, self.question = reply
                    return text
                return reply
        return ""

    # ---- the channel netmiko reads and writes --------------------------------------------------

    def write_channel(self, data: str) -> None:
        for line in data.replace("\r", "").split("\n")[:-1] if data.endswith("\n") else [data]:
            if line:
                self.received.append(line)
            asked = self.question is not None
            text = self.answer(line) if line or asked else ""
            echo = f"{line}\n" if line else "\n"
            # a question waits for its answer, free text for its delimiter
            end = "" if self.question is not None or self.delimiter is not None else self.prompt()
            self.buffer += echo + (f"{text}\n" if text and not text.endswith(" ") else text) + end

    def read_channel(self) -> str:
        out, self.buffer = self.buffer, ""
        return out


def connection(netmiko_class: Callable[..., BaseConnection], cli: FakeCli, base_prompt: str) -> Any:
    """A real netmiko connection of ``netmiko_class`` whose channel is ``cli`` (no socket)."""
    conn = netmiko_class(host="192.0.2.1", username="egovadmin", password="not-used", auto_connect=False,
                         fast_cli=False)
    conn.channel = cli  # type: ignore[assignment]
    conn.base_prompt = base_prompt
    # the fake answers at once: netmiko's wait for 2 s of silence (read_channel_timing) can be short
    timing = conn.read_channel_timing
    conn.read_channel_timing = lambda *args, **kwargs: timing(*args, **{**kwargs, "last_read": 0.05})  # type: ignore[method-assign]
    return conn


def _ios_revert(cli: FakeCli, line: str) -> str:
    """Cisco's Configuration Rollback Confirmed Change, as IOS XE prints it (the archive's file names as
    ``show archive`` lists them; "% Archive feature not enabled" for a timer without an archive: uncertain)."""
    timer = cli.timer
    if line == "show archive":
        return (" Archive feature not enabled" if not timer.archive else
                "The maximum archive configurations allowed is 14.\n"
                "There are currently 1 archive configurations saved.\n"
                "The next archive file will be named flash:egov-archive-<timestamp>-1\n"
                " Archive #  Name\n"
                "   1        flash:egov-archive-Dec--1-02-14-37.318-0 <- Most Recent")
    if line.startswith("path flash:"):
        timer.archive = True
        return ""
    if line.startswith("configure terminal revert timer "):
        if not timer.archive:
            return "% Archive feature not enabled"
        timer.arm(int(line.split()[-1]))
        cli.mode = "config"
        return ("Rollback Confirmed Change: Backing up current running config to "
                "flash:egov-archive-Dec--1-02-14-37.318-0\n"
                "Enter configuration commands, one per line.  End with CNTL/Z.")
    if line == "show archive config rollback timer":
        if timer.state != "pending":
            return "%No Rollback Confirmed Change pending"
        return (f"Time configured : 02:14:37 UTC Tue Dec 1 2026\nTimer type: revert\nTimer value: {timer.value} min\n"
                "User: egovadmin")
    if timer.state != "pending":  # configure confirm, configure revert now
        return "%No Rollback Confirmed Change pending"
    if line == "configure confirm":
        timer.state = "confirmed"
        return ""
    timer.state = "reverted"
    return ("Rollback Confirmed Change: Rolling back to flash:egov-archive-Dec--1-02-14-37.318-0\n"
            "Total number of passes: 1\nRollback Done")


IOS_REVERT = (r"^(show archive( config rollback timer)?|path flash:.*"
              r"|configure (terminal revert timer \d+|confirm|revert now))$")


def ios(running: str, privileged: bool = True, replies: list[tuple[str, Reply]] | None = None,
        timer: RevertTimer | None = None) -> FakeCli:
    """Cisco IOS XE: ``r1#`` (``r1>`` in user EXEC), ``r1(config)#``; ``banner login ^`` prints "Enter TEXT
    message.  End with the character '^'." and no prompt until a line with the delimiter."""
    return FakeCli(
        {"exec": "r1#" if privileged else "r1>", "config": "r1(config)#"},
        {"configure terminal": ("config", "Enter configuration commands, one per line.  End with CNTL/Z.")},
        {"end"},
        [*(replies or []),
         (r"^show running-config$", running if privileged else
          "                   ^\n% Invalid input detected at '^' marker.\n"),
         (r"^terminal ", ""),
         (r"^write mem", "Building configuration...\n[OK]"),
         (r"^no username \S+", ("This operation will remove all username related configurations with same name."
                                "Do you want to continue? [confirm]", {"": "", "*": ""})),
         (r"^bogus", "                 ^\n% Invalid input detected at '^' marker."),
         (r"^ip address \S+$", "% Incomplete command."),
         (r"^ip address 10\.0\.0\.1 255\.255\.255\.255 secondary$", "% Bad mask /32 for address 10.0.0.1"),
         (r"^sh$", '% Ambiguous command:  "sh"'),
         (r"^copy ", "%Error opening tftp://192.0.2.9/x (Timed out)"),
         (IOS_REVERT, _ios_revert)],
        text_entry=r"^banner (?:login|motd|exec|incoming) (\S)$", timer=timer)


def _vrp_trial(cli: FakeCli, line: str) -> str:
    """VRP V8's trial commit (NetEngine 8000 command reference, "commit", "abort trial"); the wording of
    "abort trial"'s question and of "display configuration trial status" is uncertain."""
    timer = cli.timer
    if line.startswith("commit trial "):
        timer.arm(int(line.split()[-1]))
        return ("Committing..done.\nInfo: The system enters the trial configuration mode. The system will revert to "
                f"previous configuration if the trial configuration is not confirmed in {timer.value} seconds.")
    if line == "commit":
        if timer.state == "pending":
            timer.state = "confirmed"
        return ""
    if line == "abort trial":
        if timer.state != "pending":
            return "Error: No trial configuration is running."
        timer.state = "reverted"
        cli.question = {"y": "", "*": ""}
        return ("Warning: The trial configuration will be aborted and the system will roll back to the configuration "
                "before the trial. Continue? [Y/N]:")
    if timer.state == "pending":
        return f"Trial Status : Running\nTrial Time(s) : {timer.value}\nRemaining Time(s) : {timer.value - 5}"
    return "Trial Status : Not running"


def vrp(running: str, v8: bool = False, replies: list[tuple[str, Reply]] | None = None,
        save: str = "Now saving the current configuration to the slot 0.\nInfo: Save the configuration successfully.",
        timer: RevertTimer | None = None) -> FakeCli:
    """Huawei VRP: ``<r1>``, ``[r1]`` (V8: ``[~r1]``, committed by ``commit``, under a trial by ``commit trial``)."""
    return FakeCli(
        {"exec": "<r1>", "config": "[~r1]" if v8 else "[r1]"},
        {"system-view": ("config", "Enter system view, return user view with return command.")},
        {"return"},
        [*(replies or []),
         (r"^display current-configuration$", running),
         (r"^screen-length ", ""),
         (r"^save$", ("Warning: The current configuration will be written to the device. Continue? [Y/N]:",
                      {"y": save, "*": "Info: Save cancelled."})),
         *([(r"^(commit( trial \d+)?|abort trial|display configuration trial status)$", _vrp_trial)] if v8 else []),
         (r"^commit$", ""),
         (r"^clear configuration candidate$", ""),
         (r"^bogus", "                 ^\nError: Unrecognized command found at '^' position."),
         (r"^ip address \S+$", "                   ^\nError: Incomplete command found at '^' position.")],
        timer=timer)


def _junos_commit(cli: FakeCli, line: str) -> str:
    """Junos's exclusive configuration and confirmed commit (CLI User Guide: "configure exclusive",
    "commit confirmed", "show system commit"); an expired confirmed commit is rolled back by the device,
    which logs a commit of its own (its user and method: uncertain)."""
    timer = cli.timer
    if line == "configure exclusive":
        if timer.locked_by:
            return f"error: configuration database locked by:\n  {timer.locked_by}\n      exclusive [edit]"
        cli.mode = "config"
        return "warning: uncommitted changes will be discarded on exit\nEntering configuration mode"
    if line == "commit check":
        return "configuration check succeeds"
    if line.startswith("commit confirmed "):
        timer.arm(int(line.split()[-1]))
        return (f"commit confirmed will be automatically rolled back in {timer.value} minutes unless confirmed\n"
                "commit complete")
    if line == "commit":
        if timer.state == "pending":
            timer.state = "confirmed"
        return "commit complete"
    history = ["2026-11-30 18:02:11 UTC by noc via cli", "2026-11-28 09:40:03 UTC by egovadmin via cli"]
    ours = f"2026-12-01 02:14:37 UTC by egovadmin via cli commit confirmed, rollback in {timer.value}mins"
    if timer.state == "pending":
        history = [ours, *history]
    elif timer.state == "confirmed":
        history = ["2026-12-01 02:15:02 UTC by egovadmin via cli", ours, *history]
    elif timer.state == "expired":
        history = ["2026-12-01 02:19:38 UTC by root via other", ours, *history]
    return "\n".join(f"{n:<4}{entry}" for n, entry in enumerate(history))


def junos(running: str, replies: list[tuple[str, Reply]] | None = None, timer: RevertTimer | None = None) -> FakeCli:
    """Junos: ``egovadmin@r1>``, ``[edit]`` then ``egovadmin@r1#``."""
    return FakeCli(
        {"exec": "egovadmin@r1> ", "config": "\n[edit]\negovadmin@r1# "},
        {"configure": ("config", "Entering configuration mode")},
        {"exit configuration-mode"},
        [*(replies or []),
         (r"^(configure exclusive|commit( check| confirmed \d+)?|(run )?show system commit)$", _junos_commit),
         (r"^show configuration", running),
         (r"^rollback \d+$", "load complete"),
         (r"^set bogus", "                    ^\nsyntax error."),
         (r"^set interfaces \S+ unit 0 family inet address 300", "error: invalid value: 300.0.0.1/31")],
        timer=timer)


def frr(running: str, replies: list[tuple[str, Reply]] | None = None) -> FakeCli:
    """FRR 8.4's vtysh as the lab router's login shell: ``r1#``, ``r1(config)#``; ``write memory`` as vtysh
    prints it with the integrated configuration."""
    return FakeCli(
        {"exec": "r1#", "config": "r1(config)#"},
        {"configure terminal": ("config", "")},
        {"end"},
        [*(replies or []),
         (r"^show running-config$", running),
         (r"^terminal ", ""),
         (r"^write mem", "Note: this version of vtysh never writes vtysh.conf\nBuilding Configuration...\n"
                         "Integrated configuration saved to /etc/frr/frr.conf\n[OK]"),
         (r"^bogus", "% Unknown command: bogus")])


class FakeSshClient:
    """The SSH connection under a netmiko session to a lab router, for its exec channels: ``egov-revert ...``
    answers as lab/images/router/egov-revert prints (its usage comment), on ``timer``; ``alive`` False: the
    connection is gone (a change cut management)."""

    def __init__(self, timer: RevertTimer) -> None:
        self.timer, self.alive, self.commands = timer, True, list[str]()

    def get_transport(self) -> FakeSshClient:
        return self

    def is_active(self) -> bool:
        return self.alive

    def open_session(self, timeout: float | None = None) -> _Channel:
        if not self.alive:
            raise EOFError("the SSH connection is closed")
        return _Channel(self)

    def egov_revert(self, args: list[str]) -> tuple[int, str]:
        timer = self.timer
        expired = "expired: reverted at 2026-12-01T02:16:07Z (exit 0)"
        if args[:1] == ["arm"]:
            if timer.state == "pending":
                return 3, f"error: a revert is already pending ({timer.value} s left): another push holds this router"
            timer.arm(int(args[1]))
            return 0, f"armed: revert in {timer.value} s"
        if args == ["status"]:
            return 0, {"pending": f"pending {timer.value}", "expired": expired}.get(timer.state, "none")
        if args == ["cancel"]:
            if timer.state == "expired":
                return 4, expired
            if timer.state == "pending":
                timer.state = "confirmed"
                return 0, "cancelled"
            return 0, "none"
        return 2, "usage: egov-revert arm SECONDS | cancel | status"


class _Channel:
    def __init__(self, client: FakeSshClient) -> None:
        self.client, self.rc, self.output = client, -1, b""

    def settimeout(self, seconds: float) -> None:
        pass

    def exec_command(self, command: str) -> None:
        self.client.commands.append(command)
        words = command.split()
        self.rc, text = self.client.egov_revert(words[1:]) if words[:1] == ["egov-revert"] else (0, "")
        self.output = (text + "\n").encode()

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.output)

    def recv_exit_status(self) -> int:
        return self.rc

    def close(self) -> None:
        pass
