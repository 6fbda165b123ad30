"""One round trip per node: the batch script runs for real in bash, answers match one-at-a-time runs."""

from __future__ import annotations

import subprocess
from typing import Any

from egov.batch import Answer, batch_script, parse_batch
from verify.prefetch import Prefetched, Recorder, command_line, prefetch

COMMANDS = [
    "printf 'two\\nlines\\n'",
    "echo oops >&2; exit 3",
    "printf '%s' \"$(echo 'quoted # not a comment')\"  # a trailing comment",
    "python3 -c 'import sys\nprint(len(sys.argv))' a b",
    "cat /no/such/file",
    "true",
]


class LocalHost:
    """A host whose commands run in this machine's bash, counting round trips."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def run(self, command: str, *args: str) -> Answer:
        line = command_line(command, *args)
        self.sent.append(line)
        done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, check=False)
        return Answer(done.returncode, done.stdout, done.stderr)


def test_the_batch_answers_as_each_command_alone_would() -> None:
    host = LocalHost()
    answers = prefetch(host, COMMANDS)
    assert len(host.sent) == 1
    for command in COMMANDS:
        assert answers[command] == LocalHost().run(command), command


def test_prefetched_host_answers_from_memory_and_sends_the_rest() -> None:
    host = LocalHost()
    prefetched = Prefetched(host, prefetch(host, ["echo hi"]))
    assert prefetched.run("echo hi").stdout == "hi\n"
    assert prefetched.run("echo %s", "a b").stdout == "a b\n"  # not prefetched: sent, quoted
    assert host.sent[1:] == ["echo 'a b'"]


def test_recorder_keeps_each_command_once_in_order() -> None:
    recorder = Recorder()
    for args in (("ss",), ("stat %s", "/etc/x y"), ("ss",)):
        assert recorder.run(*args) == Answer(0, "", "")
    assert recorder.commands == ["ss", "stat '/etc/x y'"]


class Broken:
    def run(self, command: str, *args: Any) -> Answer:
        raise OSError("channel closed")


def test_a_batch_that_cannot_run_leaves_the_checks_to_ask_live() -> None:
    assert prefetch(Broken(), ["true"]) == {}
    assert parse_batch(["true"], "garbage\n0 x y z\n7 0  \n") == {}
    assert "wait" in batch_script(["true"])


def test_a_truncated_or_oversized_answer_is_not_taken(monkeypatch: Any) -> None:
    import egov.batch

    commands = ["head -c 300000 /dev/zero", "echo small"]
    output = LocalHost().run(batch_script(commands)).stdout
    assert parse_batch(commands, output)[commands[0]].stdout == "\0" * 300000
    assert parse_batch(commands, output[: len(output) // 2]) == {}  # cut short: nothing, not a part
    monkeypatch.setattr(egov.batch, "MAX_OUTPUT", 100_000)  # a node's archive that inflates past the cap
    assert parse_batch(commands, output) == {}
