"""Facts in one round trip (deploys/fact_cache.py): pyinfra's own facts, gathered for real on this
machine through pyinfra's local connector, come out of the batch exactly as pyinfra gathers them
one by one, in a few round trips, with nothing left to gather live."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import Config, FactBase, Host, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.facts.apt import AptSources
from pyinfra.facts.files import Directory, File, Sha1File
from pyinfra.facts.server import Command, Hostname

from deploys import fact_cache
from deploys import pyinfra_internals as internals


def local_state() -> tuple[State, Host]:
    inventory = Inventory((["@local"], {}))
    state = State(check_for_changes=True)
    state.init(inventory, Config())
    connect_all(state)
    return state, inventory.get_host("@local")


def facts_of(host: Host, tmp: Path) -> list[Any]:
    """What a deploy asks, one fact depending on another as checked_file's do."""
    present = host.get_fact(File, path=str(tmp / "present"))
    return [
        present,
        host.get_fact(Sha1File, path=str(tmp / "present")) if present else None,
        host.get_fact(File, path=str(tmp / "absent")),
        host.get_fact(Directory, path=str(tmp)),
        host.get_fact(Command, command="echo one; echo; echo 'three  '"),
        host.get_fact(Command, command="printf 'no newline'"),
        host.get_fact(Hostname),
        host.get_fact(AptSources),  # guarded by requires_command ("apt")
    ]


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    present = tmp_path / "present"
    present.write_text("some content\n")
    # an access time after the change time: reading it (the sha1) leaves it as it is (relatime)
    os.utime(present, (present.stat().st_mtime + 100, present.stat().st_mtime))
    return tmp_path


def test_the_batch_answers_as_pyinfra_gathers_each_fact(tmp: Path) -> None:
    state, host = local_state()
    live = facts_of(host, tmp)

    def rehearse(cache: fact_cache.FactCache) -> None:
        _, rehearsal_host = local_state()
        with internals.answering_facts(cache.hook):
            facts_of(rehearsal_host, tmp)

    cache = fact_cache.gather(state, rehearse)
    with internals.answering_facts(cache.hook):
        answered = facts_of(host, tmp)
    assert answered == live
    assert live[0] and live[1] and live[2] is None  # the chained fact was foreseen
    counts = cache.counts[host.name]
    assert counts["live"] == 0
    assert counts["answered"] == len(live)
    assert counts["round trips"] == 1  # a rehearsal takes a file as there: its sha1 comes with its stat


def test_a_rehearsal_goes_past_pyinfras_user_and_group_operations(tmp: Path) -> None:
    """pyinfra's group and user operations raise on an unknown OS or a missing ``useradd``: a
    rehearsal answering their defaults stopped there, leaving every later fact to another round."""
    from pyinfra.api.operation import add_op
    from pyinfra.operations import files, server

    state, host = local_state()
    cache = fact_cache.FactCache()
    with internals.answering_facts(cache.hook):
        add_op(state, server.group, group="egov-rehearsed", system=True, host=host)
        add_op(state, server.user, user="egov-rehearsed", group="egov-rehearsed", system=True, host=host)
        add_op(state, files.put, src=str(tmp / "present"), dest=str(tmp / "copy"), host=host)
    asked = list(cache.asked[host.name])
    assert any("sha1sum" in line and str(tmp / "copy") in line for line in asked), asked
    assert not any("md5sum" in line for line in asked)  # the SHA-1 is taken as there: no fallbacks


def test_a_failing_fact_is_left_to_pyinfra(tmp: Path) -> None:
    state, host = local_state()
    cache = fact_cache.FactCache(recording=False)
    _, line = internals.fact_command(state, host, Command, kwargs={"command": "exit 3"})
    assert line is not None
    cache.answers[host.name] = {line: fact_cache.Answer(3, "", "")}
    asked: list[str | None] = []

    def hook(state: State, host: Host, fact: FactBase[Any], line: str | None) -> Any:
        asked.append(line)
        return cache.hook(state, host, fact, line)

    with internals.answering_facts(hook):
        assert host.get_fact(Command, command="exit 3", _ignore_errors=True) is None
    assert asked == [line] and cache.counts[host.name]["live"] == 1


def test_chunks_keep_every_line_in_order_within_the_limit() -> None:
    lines = ["a" * 10, "b" * 30, "c" * 5, "d" * 80, "e"]
    runs = fact_cache.chunks(lines, limit=40)
    assert [line for run in runs for line in run] == lines
    assert runs == [["a" * 10, "b" * 30], ["c" * 5], ["d" * 80], ["e"]]
