"""`egov net` wiring: help on every command, render to stdout, JSON and files, bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from egov.secrets import MASK
from tests.support.network_secrets import NETWORK_SECRETS

REPO = Path(__file__).resolve().parents[2]
LAB = str(REPO / "inventory" / "lab.yml")


@pytest.mark.parametrize("command", ["render", "diff", "push", "backup", "rollback", "check"])
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(main, ["net", command, "--help"])
    assert result.exit_code == 0 and "Usage: " in result.output


def test_render_json_and_files_are_the_same_bytes_but_for_the_secrets(tmp_path: Path) -> None:
    """Printed (or --json), the OSPF keys are masked; the files hold them, readable by their owner only."""
    runner = CliRunner()
    as_json = runner.invoke(main, ["net", "render", "-i", LAB, "--limit", "tien-yen", "--json"])
    assert as_json.exit_code == 0, as_json.output
    configs = json.loads(as_json.output)
    assert set(configs) == {"qn-ty-r1", "qn-ty-tien-yen-r1", "qn-ty-dong-ngu-r1"}
    written = runner.invoke(main, ["net", "render", "-i", LAB, "--limit", "tien-yen", "--out", str(tmp_path)])
    assert written.exit_code == 0
    key = NETWORK_SECRETS["ospf_key_1"]
    for name, text in configs.items():
        assert key not in text and f"md5 {MASK}" in text
        path = tmp_path / f"{name}.cfg"
        assert path.read_text(encoding="utf-8") == text.replace(MASK, key)
        assert path.stat().st_mode & 0o077 == 0


def test_unknown_limit_is_bad_input() -> None:
    result = CliRunner().invoke(main, ["net", "render", "-i", LAB, "--limit", "nowhere"])
    assert result.exit_code == 2 and "--limit nowhere" in result.output and "Traceback" not in result.output


def test_rollback_of_an_unknown_router_is_bad_input() -> None:
    result = CliRunner().invoke(main, ["net", "rollback", "nope", "-i", LAB])
    assert result.exit_code == 2 and "no router named 'nope'" in result.output
