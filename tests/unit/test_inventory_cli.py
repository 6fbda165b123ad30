"""`egov inventory ipplan|show|graph` print what the model holds (tables for people, JSON for scripts)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main

LAB = str(Path(__file__).parents[2] / "inventory" / "lab.yml")


def run(*args: str) -> str:
    result = CliRunner().invoke(main, ["inventory", *args, "-i", LAB])
    assert result.exit_code == 0, result.output
    return result.output


def test_ipplan_json_lists_every_site_network() -> None:
    plan = json.loads(run("ipplan", "--json"))
    assert plan["supernet"] == "10.22.0.0/16" and set(plan["pools"]) == {"mgmt", "loopback", "p2p", "server", "user"}
    assert {r["site"] for r in plan["rows"]} == {"dc", "tien-yen", "dam-ha", "ty-tien-yen", "ty-dong-ngu",
                                                 "dh-dam-ha", "dh-quang-tan"}
    assert "10.22.146.0/26" in run("ipplan")


def test_show_site_and_level() -> None:
    data = json.loads(run("show", "--site", "tien-yen", "--json"))
    assert [s["name"] for s in data["sites"]] == ["tien-yen", "ty-tien-yen", "ty-dong-ngu"]
    assert data["hosts"][0]["vars"]["network__ospf_hello"] == {"value": 1, "from": "province"}
    data = json.loads(run("show", "--level", "district", "--json"))
    assert [s["name"] for s in data["sites"]] == ["tien-yen", "dam-ha"]
    result = CliRunner().invoke(main, ["inventory", "show", "--site", "nowhere", "-i", LAB])
    assert result.exit_code == 2 and "no site is named 'nowhere'" in result.output


def test_show_host_origin_says_where_each_value_came_from() -> None:
    data = json.loads(run("show", "--host", "qn-ty-node1", "--origin", "--json"))
    rows = {row["key"]: row for row in data["vars"]}
    assert rows["network__ospf_hello"] == {"key": "network__ospf_hello", "value": 1, "from": "province"}
    assert rows["base__ssh_allow_from"] == {"key": "base__ssh_allow_from", "value": None,
                                            "from": "defaults inventory/defaults/base.yml"}
    assert all(row["from"] for row in data["vars"])
    assert not any("secret" in key or "password" in key for key in rows)
    table = run("show", "--host", "qn-ty-node1", "--origin")
    assert "monitoring__scrape_interval" in table and "5s" in table and "province" in table
    assert "from" not in json.loads(run("show", "--host", "qn-ty-node1", "--json"))["vars"][0]
    result = CliRunner().invoke(main, ["inventory", "show", "--origin", "-i", LAB])
    assert result.exit_code == 2 and "--origin goes with --host" in result.output


def test_graph_dot_and_mermaid_have_every_link() -> None:
    dot, mermaid = run("graph", "--format", "dot"), run("graph", "--format", "mermaid")
    for text in (dot, mermaid):
        assert "10.22.168.48/31" in text and "qn_ty_r1" in text.replace("-", "_")
    assert dot.count(" -- ") == 8 and mermaid.count("---|") == 8


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz not installed (apt-get install graphviz)")
def test_graph_svg(tmp_path: Path) -> None:
    out = tmp_path / "wan.svg"
    run("graph", "--format", "svg", "-o", str(out))
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "10.22.168.48/31" in svg


def test_mermaid_labels_keep_quotes_and_markup_as_text(tmp_path: Path) -> None:
    """A site title with '"', '<' or '#' would end Mermaid's quoted label or be read as HTML: Mermaid's
    entity codes (``#quot;``, ``#lt;``, ``#35;``: its flowchart syntax page) keep them as text."""
    text = Path(LAB).read_text(encoding="utf-8")
    assert "title: Huyện Tiên Yên" in text
    hostile = tmp_path / "lab.yml"
    hostile.write_text(text.replace("title: Huyện Tiên Yên", "title: 'Huyện \"Tiên\" <b>Yên</b> #1'"),
                       encoding="utf-8")
    result = CliRunner().invoke(main, ["inventory", "graph", "--format", "mermaid", "-i", str(hostile)])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "Tiên" in line)
    assert line.endswith('["Huyện #quot;Tiên#quot; #lt;b#gt;Yên#lt;/b#gt; #35;1 (district)"]')
    assert line.count('"') == 2
