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
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from netmiko import BaseConnection

# a reply: text, or a question and what each answer prints
Reply = str | tuple[str, dict[str, str]]


class FakeCli:
    """One device's CLI: ``modes`` maps a mode to its prompt; ``replies`` maps a line (regular expression)
    to its reply in any mode; ``enter``/``leave`` are the lines that enter and leave configuration mode."""

    def __init__(self, prompts: dict[str, str], enter: dict[str, tuple[str, str]], leave: set[str],
                 replies: list[tuple[str, Reply]], mode: str = "exec", text_entry: str | None = None) -> None:
        self.prompts, self.enter, self.leave, self.replies = prompts, enter, leave, replies
        self.mode = mode
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


def ios(running: str, privileged: bool = True, replies: list[tuple[str, Reply]] | None = None) -> FakeCli:
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
         (r"^copy ", "%Error opening tftp://192.0.2.9/x (Timed out)")],
        text_entry=r"^banner (?:login|motd|exec|incoming) (\S)$")


def vrp(running: str, v8: bool = False, replies: list[tuple[str, Reply]] | None = None,
        save: str = "Now saving the current configuration to the slot 0.\nInfo: Save the configuration successfully.",
        ) -> FakeCli:
    """Huawei VRP: ``<r1>``, ``[r1]`` (V8: ``[~r1]``, committed by ``commit``)."""
    return FakeCli(
        {"exec": "<r1>", "config": "[~r1]" if v8 else "[r1]"},
        {"system-view": ("config", "Enter system view, return user view with return command.")},
        {"return"},
        [*(replies or []),
         (r"^display current-configuration$", running),
         (r"^screen-length ", ""),
         (r"^save$", ("Warning: The current configuration will be written to the device. Continue? [Y/N]:",
                      {"y": save, "*": "Info: Save cancelled."})),
         (r"^commit$", ""),
         (r"^clear configuration candidate$", ""),
         (r"^bogus", "                 ^\nError: Unrecognized command found at '^' position."),
         (r"^ip address \S+$", "                   ^\nError: Incomplete command found at '^' position.")])


def junos(running: str, replies: list[tuple[str, Reply]] | None = None) -> FakeCli:
    """Junos: ``egovadmin@r1>``, ``[edit]`` then ``egovadmin@r1#``."""
    return FakeCli(
        {"exec": "egovadmin@r1> ", "config": "\n[edit]\negovadmin@r1# "},
        {"configure": ("config", "Entering configuration mode")},
        {"exit configuration-mode"},
        [*(replies or []),
         (r"^show configuration", running),
         (r"^commit confirmed \d+", "commit confirmed will be automatically rolled back in 5 minutes unless confirmed\n"
                                    "commit complete"),
         (r"^commit", "commit complete"),
         (r"^rollback \d+$", "load complete"),
         (r"^set bogus", "                    ^\nsyntax error."),
         (r"^set interfaces \S+ unit 0 family inet address 300", "error: invalid value: 300.0.0.1/31")])
