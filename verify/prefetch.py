"""Read a node's state in one SSH round trip: every command the checks will run, run at once.

Each command a check runs over SSH costs a round trip and, on the node, an sshd session (a fork,
a shell, two log lines): on a node with a dozen controls that is most of the cost of verifying
it. So the engine first runs the checks against a ``Recorder``, which answers every command with
an empty success and keeps the command; ``prefetch`` runs all of them concurrently on the node in
one shell and returns each one's exit code, stdout and stderr; the checks then run for real on a
``Prefetched`` host that answers from those results. A command the dry pass did not foresee (one
run only after a real answer) goes to the node as before, so the outcome is the same either way.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass
from typing import Any


def command_line(command: str, *args: str) -> str:
    """The command as sent: ``args`` quoted into ``command``'s ``%s`` (testinfra's own rule)."""
    return command % tuple(shlex.quote(a) for a in args) if args else command


@dataclass(frozen=True)
class Answer:
    """What one command returned; the attributes of testinfra's CommandResult the checks read."""

    rc: int
    stdout: str
    stderr: str


class Recorder:
    """Stands in for a testinfra host during the dry pass: keeps each command, answers empty success."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def run(self, command: str, *args: str) -> Answer:
        line = command_line(command, *args)
        if line not in self.commands:
            self.commands.append(line)
        return Answer(0, "", "")


def batch_script(commands: list[str]) -> str:
    """One shell script that runs ``commands`` concurrently, each in its own subshell with its output
    in files, then prints per command ``index rc base64(stdout) base64(stderr)`` on one line."""
    runs = "\n".join(f'{{ ( {line}\n) >"$d/{i}.o" 2>"$d/{i}.e" </dev/null; echo $? >"$d/{i}.r"; }} &'
                     for i, line in enumerate(commands))
    return (f'd=$(mktemp -d) || exit 1\ntrap \'rm -rf "$d"\' EXIT\n{runs}\nwait\n'
            f'for i in $(seq 0 {len(commands) - 1}); do printf "%s %s %s %s\\n" "$i" "$(cat "$d/$i.r")" '
            f'"$(base64 -w0 <"$d/$i.o")" "$(base64 -w0 <"$d/$i.e")"; done')


def parse_batch(commands: list[str], output: str) -> dict[str, Answer]:
    """The answers ``batch_script(commands)`` printed, by command; a malformed line is left out."""
    answers: dict[str, Answer] = {}
    for line in output.splitlines():
        fields = line.split(" ")
        if len(fields) != 4 or not fields[0].isdigit() or not fields[1].lstrip("-").isdigit():
            continue
        index = int(fields[0])
        if index < len(commands):
            answers[commands[index]] = Answer(int(fields[1]), base64.b64decode(fields[2]).decode(errors="replace"),
                                              base64.b64decode(fields[3]).decode(errors="replace"))
    return answers


def prefetch(host: Any, commands: list[str]) -> dict[str, Answer]:
    """Run ``commands`` on ``host`` in one round trip. Empty when the batch itself cannot run: the
    checks then ask the node one command at a time."""
    if not commands:
        return {}
    try:
        result = host.run(batch_script(commands))
    except Exception:  # noqa: BLE001 - an optimisation only: the checks still run, live
        return {}
    return parse_batch(commands, result.stdout or "")


class Prefetched:
    """A testinfra host that answers the prefetched commands from memory and sends the others."""

    def __init__(self, host: Any, answers: dict[str, Answer]) -> None:
        self.host, self.answers = host, answers

    def run(self, command: str, *args: str) -> Any:
        return self.answers.get(command_line(command, *args)) or self.host.run(command, *args)
