"""Read a node's state in one SSH round trip: every command the checks will run, run at once.

Each command a check runs over SSH costs a round trip and, on the node, an sshd session (a fork,
a shell, two log lines): on a node with a dozen controls that is most of the cost of verifying
it. So the engine first runs the checks against a ``Recorder``, which answers every command with
an empty success and keeps the command; ``prefetch`` runs all of them concurrently on the node in
one shell (``egov.batch``) and returns each one's exit code, stdout and stderr; the checks then
run for real on a ``Prefetched`` host that answers from those results. A command the dry pass did not foresee (one
run only after a real answer) goes to the node as before, so the outcome is the same either way.
"""

from __future__ import annotations

import shlex
from typing import Any

from egov.batch import Answer, batch_script, parse_batch


def command_line(command: str, *args: str) -> str:
    """The command as sent: ``args`` quoted into ``command``'s ``%s`` (testinfra's own rule)."""
    return command % tuple(shlex.quote(a) for a in args) if args else command


class Recorder:
    """Stands in for a testinfra host during the dry pass: keeps each command, answers empty success."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def run(self, command: str, *args: str) -> Answer:
        line = command_line(command, *args)
        if line not in self.commands:
            self.commands.append(line)
        return Answer(0, "", "")


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
