"""One stand-in host for the tests: pyinfra's facts (``get_fact``, ``noop``) and testinfra's
commands (``run``), each answered from a table the test gives."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyinfra.api.facts import FactBase


@dataclass
class Out:
    """What a command returned, as testinfra's ``host.run`` gives it."""

    rc: int = 0
    stdout: str = ""
    stderr: str = ""


class FakeHost:
    """Answers ``get_fact`` from ``facts``, keyed by fact class (and its path argument, if any),
    and ``run`` from ``answers``: the first registered prefix that a command starts with answers it.

    What the host was asked is kept: ``noops`` (pyinfra's no-change messages) and ``commands``
    (every command run, arguments quoted in).
    """

    def __init__(self, facts: dict[Any, Any] | None = None, answers: dict[str, Out] | None = None) -> None:
        self.facts = facts or {}
        self.answers = answers or {}
        self.noops: list[str] = []
        self.commands: list[str] = []
        self.current_op_global_arguments: dict[str, Any] = {}  # files.put reads _temp_dir here

    def get_fact(self, fact: type[FactBase[Any]], **kwargs: Any) -> Any:
        key = (fact, kwargs["path"]) if "path" in kwargs else fact
        return self.facts.get(key, fact.default())

    def noop(self, message: str) -> None:
        self.noops.append(message)

    def get_temp_filename(self, seed: str, temp_directory: str | None = None) -> str:
        return "/tmp/pyinfra-test"

    def run(self, command: str, *args: str) -> Out:
        text = command % tuple(shlex.quote(a) for a in args) if args else command
        self.commands.append(text)
        for prefix, out in self.answers.items():
            if text.startswith(prefix):
                return out
        return Out(127, "", f"{text.split()[0]}: not found")
