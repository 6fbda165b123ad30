"""Many shell commands in one round trip: one script that runs them all on the node and prints
each one's exit code, stdout and stderr, and the parser of what it printed.

Each command sent alone costs an SSH round trip and, on the node, an sshd session (a fork, a
shell, log lines); reading a node's state command by command is most of the cost of checking it.
``verify`` (its checks' commands) and ``deploys`` (pyinfra's facts) both read a node this way.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    """What one command returned (the attributes of testinfra's CommandResult the checks read)."""

    rc: int
    stdout: str
    stderr: str


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
