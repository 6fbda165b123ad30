"""The parent side of ``egov deploy``: the child's JSON lines become Progress events and one result."""

from __future__ import annotations

import json

from deploys.runner import Progress, read_events


def test_read_events_passes_progress_on_and_returns_the_result() -> None:
    result = {"qn-ty-node1": {"target": "qn-ty-node1", "changed": True}}
    lines = [json.dumps({"event": "plan", "host": "qn-ty-node1", "ops": 3}) + "\n",
             "a library printing to stdout\n",
             json.dumps({"event": "op", "host": "qn-ty-node1", "op": "Base | apt", "status": "changed"}) + "\n",
             json.dumps({"event": "done", "host": "qn-ty-node1", "status": "ok"}) + "\n",
             json.dumps({"event": "result", "results": result}) + "\n"]
    seen: list[Progress] = []
    assert read_events(lines, seen.append) == result
    assert seen == [Progress("qn-ty-node1", "plan", total=3),
                    Progress("qn-ty-node1", "op", op="Base | apt", status="changed"),
                    Progress("qn-ty-node1", "done", status="ok")]


def test_read_events_without_a_result_is_none() -> None:
    assert read_events(['{"event": "plan", "host": "h", "ops": 1}\n']) is None
