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


def _batch_answers(lines: list[str]) -> dict[str, fact_cache.Answer]:
    """The lines run through the real batch on this machine, as a host runs them."""
    import subprocess

    from egov.batch import batch_script, parse_batch

    out = subprocess.run(["sh", "-c", batch_script(lines)], capture_output=True, text=True, check=True).stdout
    return parse_batch(lines, out)


def test_merged_stats_and_sha1s_answer_as_each_line_would(tmp: Path) -> None:
    """Files, a directory, links (one dangling), an absent path and an unreadable file: what the
    merged ``stat`` and ``sha1sum`` give each line is what its own command prints, and a file
    sha1sum cannot read is left unanswered (gathered live), not guessed."""
    from deploys import fact_merge

    state, host = local_state()
    (tmp / "dir").mkdir()
    (tmp / "second").write_text("other\n")
    (tmp / "link").symlink_to(tmp / "present")
    (tmp / "dangling").symlink_to(tmp / "nowhere")
    secret = tmp / "locked"
    secret.write_text("x\n")
    secret.chmod(0)
    for path in (tmp / "dir", tmp / "second", secret):  # read later without changing its access time
        os.utime(path, (path.stat().st_mtime + 100, path.stat().st_mtime))
    paths = [str(tmp / n) for n in ("present", "second", "dir", "link", "dangling", "absent", "locked")]
    made = [internals.fact_command(state, host, fact, kwargs={"path": p})[1]
            for p in paths for fact in (File, Directory, Sha1File)]
    lines = [line for line in dict.fromkeys(made) if line]
    alone, merged = fact_merge.merge(state, host, lines)
    assert alone == [] and len(merged) == 2  # one stat, one sha1sum for all 14 lines
    one_by_one = _batch_answers(lines)
    run = _batch_answers([m.command for m in merged])
    answered = {line: a for m in merged for line, a in m.answer(run[m.command]).items()}
    assert answered == {line: one_by_one[line] for line in answered}
    # sha1sum fails on a directory (and, but for root, on a file it may not read): left to pyinfra
    left = {line for line in lines if "sha1sum" in line and (f"{tmp}/dir " in line or
                                                            (os.geteuid() != 0 and str(secret) in line))}
    assert set(lines) - set(answered) == left


def test_only_pyinfras_own_lines_of_plain_paths_are_merged(tmp: Path) -> None:
    from deploys import fact_merge

    state, host = local_state()
    quoted = tmp / "with space"
    quoted.write_text("y\n")
    own = [internals.fact_command(state, host, File, kwargs={"path": str(p)})[1] for p in (tmp / "present", quoted)]
    lookalike = own[0].replace("stat -c", "stat  -c") if own[0] else ""
    alone, merged = fact_merge.merge(state, host, [line for line in (*own, lookalike) if line])
    assert merged == [] and len(alone) == 3  # one plain path left: a kind asked once is not merged


def test_a_memo_makes_a_rerun_fetch_once_without_rehearsing(tmp: Path,
                                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    memos = tmp_path_factory.mktemp("memos")  # not in ``tmp``, whose directory's times facts_of reads
    memo = fact_cache.Memo(memos, "all")
    roles = {"@local": ["base", "ntp"]}
    rehearsals: list[int] = []

    def rehearse(cache: fact_cache.FactCache) -> None:
        rehearsals.append(1)
        _, rehearsal_host = local_state()
        with internals.answering_facts(cache.hook):
            facts_of(rehearsal_host, tmp)

    state, host = local_state()
    live = facts_of(host, tmp)
    first = fact_cache.gather(state, rehearse, memo, roles)
    with internals.answering_facts(first.hook):
        assert facts_of(host, tmp) == live
    assert rehearsals and first.used[host.name]
    # made by a step that changed the host: it lacks what the change leads to, the next run rehearses
    memo.save(host.name, roles["@local"], list(first.used[host.name]), settled=False)
    before = len(rehearsals)
    state, host = local_state()
    fact_cache.gather(state, rehearse, memo, roles)
    assert len(rehearsals) > before
    memo.save(host.name, roles["@local"], list(first.used[host.name]), settled=True)
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in memos.iterdir())

    rehearsals.clear()
    state, host = local_state()
    second = fact_cache.gather(state, rehearse, memo, roles)
    with internals.answering_facts(second.hook):
        assert facts_of(host, tmp) == live
    assert rehearsals == []  # the memo's commands were fetched instead
    assert second.counts[host.name]["round trips"] == 1 and second.counts[host.name]["live"] == 0

    # a step of roles no memo covers (a first deploy's main step after the foundation) rehearses,
    # the memo's commands fetched with its first round; a --diff step is covered by --diff memos only
    state, host = local_state()
    fact_cache.gather(state, rehearse, memo, {"@local": ["base", "ntp", "dns"]})
    assert rehearsals
    rehearsals.clear()
    state, host = local_state()
    fact_cache.gather(state, rehearse, fact_cache.Memo(memos, "all", diff=True), roles)
    assert rehearsals


def test_a_memo_keeps_no_line_with_a_secret_and_a_bad_one_is_none(tmp: Path) -> None:
    from egov.secrets import remember

    memo = fact_cache.Memo(tmp / "memos", "all")
    remember("s3cret-value-in-a-command")
    memo.save("h1", ["base"], ["echo plain", "PGPASSWORD=s3cret-value-in-a-command psql -c 'select 1'"], True)
    assert memo.load("h1") == ({"base"}, ["echo plain"], True)
    assert "s3cret" not in (tmp / "memos" / "h1--all.json").read_text()
    assert (tmp / "memos").stat().st_mode & 0o777 == 0o700
    assert (tmp / "memos" / "h1--all.json").stat().st_mode & 0o777 == 0o600
    (tmp / "memos" / "h2--all.json").write_text("{not json")
    assert memo.load("h2") == (set(), [], True) and memo.load("nobody") == (set(), [], True)
    # the steps' memos together: roles and commands of each, each command once
    fact_cache.Memo(tmp / "memos", "base+mirror").save("h1", ["base", "mirror"], ["echo plain", "echo mirror"], False)
    assert memo.load("h1") == ({"base", "mirror"}, ["echo plain", "echo mirror"], False)
    # a memo of every role supersedes the steps' (a first deploy's, made before their changes)
    memo.save("h1", ["base", "mirror", "log"], ["echo plain", "echo mirror", "echo log"], True)
    assert memo.load("h1") == ({"base", "mirror", "log"}, ["echo plain", "echo mirror", "echo log"], True)
    assert sorted(p.name for p in (tmp / "memos").glob("h1--*")) == ["h1--all.json"]


def test_a_files_stat_is_remembered_with_its_sha1(tmp: Path) -> None:
    """A file a first deploy found absent had no SHA-1 asked; the next run asks it: the memo holds it."""
    from deploys import fact_merge

    state, host = local_state()
    stat = internals.fact_command(state, host, File, kwargs={"path": str(tmp / "absent")})[1]
    sha1 = internals.fact_command(state, host, Sha1File, kwargs={"path": str(tmp / "absent")})[1]
    assert stat and sha1
    assert fact_merge.companions(state, host, [stat, "echo other"]) == [sha1]
    assert fact_merge.companions(state, host, [stat, sha1]) == []  # asked already
