"""Many of pyinfra's one-path and one-unit facts of a host answered by one command each.

On a converged host most facts a deploy asks are a file's stat, its SHA-1 and a unit's state, each
pyinfra command a shell of its own running ``stat``, ``sha1sum`` or ``systemctl`` once: measured on
the lab's dc-app1, 179 of its 200 commands, 0.96 s of the 1.14 s its batch took on the host; with
all seven hosts read at once on two shared cores, those processes were most of a no-op re-run.
Here the lines of each kind become one command (one ``stat``, one ``sha1sum``, one ``systemctl
show`` over all the paths or units) and each line gets back what its own command would have
printed.

A line is merged only when it is exactly the line pyinfra makes for that fact of a plain path or
unit (made again with ``internals.fact_command`` and compared), so a pyinfra that changes its
commands only stops the merging. Whatever the merged command does not vouch for (a path that
exists but ``stat`` or ``sha1sum`` could not read, units whose blocks do not line up) gets no
answer, and pyinfra gathers it live.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deploys import pyinfra_internals as internals
from egov.batch import Answer

if TYPE_CHECKING:
    from pyinfra.api import FactBase, Host, State

# absolute paths and unit names that no quoting changes, none taken for an option: the only ones merged
PATH = re.compile(r"/[A-Za-z0-9_./@:+-]*")
UNIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:-]*")
STAT = re.compile(r"sh -c '! \(test -e (\S+) \|\| test -L \1 \) \|\| \( stat -c '\"'\"'([^']+)'\"'\"' \1 ")
SHA1 = re.compile(r"sh -c 'test -e (\S+) && \( sha1sum \1 ")
UNIT = re.compile(r"systemctl show --all --property Id --property (SubState|UnitFileState) (\S+) \)")
# a separator no plain path holds, between the path and what ``stat -c`` printed for it
SEP = "|"
ABSENT = "!"


@dataclass(frozen=True)
class Merged:
    """One command standing for several lines, and how to answer each of them from its output."""

    command: str
    answer: Callable[[Answer], dict[str, Answer]]


def _is_pyinfras(state: State, host: Host, line: str, fact: type[FactBase[Any]], **kwargs: str) -> bool:
    return internals.fact_command(state, host, fact, kwargs=kwargs)[1] == line


def _absent_and_found(output: str) -> tuple[set[str], list[str]]:
    lines = output.split("\n")
    return {line[1:] for line in lines if line.startswith(ABSENT)}, [line for line in lines if line and
                                                                       not line.startswith(ABSENT)]


def _stats(lines: dict[str, str], fmt: str) -> Merged:
    """``lines``: pyinfra line -> path, each a File (Directory, Link) fact with ``stat -c fmt``."""
    paths = " ".join(dict.fromkeys(lines.values()))
    command = (f"for p in {paths}; do test -e \"$p\" || test -L \"$p\" || echo \"{ABSENT}$p\"; done; "
               f"stat -c '%n{SEP}{fmt}' {paths} 2>/dev/null; true")

    def answer(result: Answer) -> dict[str, Answer]:
        absent, found = _absent_and_found(result.stdout)
        printed = dict(line.split(SEP, 1) for line in found if SEP in line)
        return {line: Answer(0, "" if path in absent else printed[path] + "\n", "")
                for line, path in lines.items() if path in absent or path in printed}

    return Merged(command, answer)


def _sha1s(lines: dict[str, str]) -> Merged:
    """``lines``: pyinfra line -> path, each a Sha1File fact."""
    paths = " ".join(dict.fromkeys(lines.values()))
    command = f"for p in {paths}; do test -e \"$p\" || echo \"{ABSENT}$p\"; done; sha1sum {paths} 2>/dev/null; true"

    def answer(result: Answer) -> dict[str, Answer]:
        absent, found = _absent_and_found(result.stdout)
        printed = {line[42:]: line for line in found if re.fullmatch(r"[0-9a-f]{40}  .+", line)}
        return {line: Answer(0, "" if path in absent else printed[path] + "\n", "")
                for line, path in lines.items() if path in absent or path in printed}

    return Merged(command, answer)


def _units(lines: dict[str, str], prop: str) -> Merged:
    """``lines``: pyinfra line -> unit, each a SystemdStatus (SubState) or SystemdEnabled
    (UnitFileState) fact; ``systemctl show`` prints one block per unit asked, in order."""
    units = list(dict.fromkeys(lines.values()))
    first = next(iter(lines))
    # the same guard as each line's (``requires_command``), around all the units at once
    command = first.replace(f" {prop} {units[0]} )", f" {prop} {' '.join(units)} )", 1)

    def answer(result: Answer) -> dict[str, Answer]:
        if result.rc != 0:
            return {}
        if result.stdout.strip() == internals.missing_command_marker():
            return {line: result for line in lines}
        blocks = [block.strip("\n") + "\n" for block in result.stdout.strip("\n").split("\n\n")]
        if len(blocks) != len(units):
            return {}
        of = dict(zip(units, blocks, strict=True))
        return {line: Answer(0, of[unit], "") for line, unit in lines.items()}

    return Merged(command, answer)


def companions(state: State, host: Host, lines: list[str]) -> list[str]:
    """The SHA-1 lines of the files ``lines`` stat: a file absent when a step was prepared (a first
    deploy's) is uploaded without its SHA-1 asked, and the next run asks it; remembered with the
    stat, it comes in that run's batch, not one round trip each."""
    from pyinfra.facts.files import Sha1File

    known = set(lines)
    made = (internals.fact_command(state, host, Sha1File, kwargs={"path": m[1]})[1]
            for line in lines if (m := STAT.match(line)) and PATH.fullmatch(m[1]))
    return [line for line in dict.fromkeys(made) if line and line not in known]


def merge(state: State, host: Host, lines: list[str]) -> tuple[list[str], list[Merged]]:
    """``lines`` (a host's fact commands) split into those sent as they are and the merged
    commands standing for the rest (none for a kind asked fewer than twice)."""
    from pyinfra.facts.files import File, Sha1File
    from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus

    stats: dict[str, dict[str, str]] = {}
    sha1s: dict[str, str] = {}
    units: dict[str, dict[str, str]] = {}
    unit_facts = {"SubState": SystemdStatus, "UnitFileState": SystemdEnabled}
    for line in lines:
        if (m := STAT.match(line)) and PATH.fullmatch(m[1]) and _is_pyinfras(state, host, line, File, path=m[1]):
            stats.setdefault(m[2], {})[line] = m[1]
        elif (m := SHA1.match(line)) and PATH.fullmatch(m[1]) and _is_pyinfras(state, host, line, Sha1File,
                                                                                 path=m[1]):
            sha1s[line] = m[1]
        elif (m := UNIT.search(line)) and UNIT_NAME.fullmatch(m[2]) and _is_pyinfras(
                state, host, line, unit_facts[m[1]], services=m[2]):
            units.setdefault(m[1], {})[line] = m[2]
    merged = [*(_stats(group, fmt) for fmt, group in stats.items() if len(group) > 1),
              *([_sha1s(sha1s)] if len(sha1s) > 1 else []),
              *(_units(group, prop) for prop, group in units.items() if len(group) > 1)]
    taken = {line for group in (*stats.values(), sha1s, *units.values()) if len(group) > 1 for line in group}
    return [line for line in lines if line not in taken], merged
