"""`egov net` wiring: help on every command, render to stdout, JSON and files, bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main

REPO = Path(__file__).resolve().parents[2]
LAB = str(REPO / "inventory" / "lab.yml")


@pytest.mark.parametrize("command", ["render", "diff", "push", "backup", "rollback", "check"])
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(main, ["net", command, "--help"])
    assert result.exit_code == 0 and "Usage: " in result.output


def test_render_json_and_files_are_the_same_bytes(tmp_path: Path) -> None:
    runner = CliRunner()
    as_json = runner.invoke(main, ["net", "render", "-i", LAB, "--limit", "tien-yen", "--json"])
    assert as_json.exit_code == 0, as_json.output
    configs = json.loads(as_json.output)
    assert set(configs) == {"qn-ty-r1", "qn-ty-tien-yen-r1", "qn-ty-dong-ngu-r1"}
    written = runner.invoke(main, ["net", "render", "-i", LAB, "--limit", "tien-yen", "--out", str(tmp_path)])
    assert written.exit_code == 0
    for name, text in configs.items():
        assert (tmp_path / f"{name}.cfg").read_text(encoding="utf-8") == text


def test_unknown_limit_is_bad_input() -> None:
    result = CliRunner().invoke(main, ["net", "render", "-i", LAB, "--limit", "nowhere"])
    assert result.exit_code == 2 and "--limit nowhere" in result.output and "Traceback" not in result.output


def test_rollback_of_an_unknown_router_is_bad_input() -> None:
    result = CliRunner().invoke(main, ["net", "rollback", "nope", "-i", LAB])
    assert result.exit_code == 2 and "no router named 'nope'" in result.output
