"""No command contacts a lab inventory's nodes while that lab is down: its addresses would route
out of the machine. Production inventories are never held back by the guard."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from egov.connection import require_lab_up
from egov.errors import LabError
from inventory import load_inventory

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def absent_lab(tmp_path: Path) -> Path:
    """lab.yml moved to a supernet no lab of this machine uses."""
    text = (REPO / "inventory" / "lab.yml").read_text(encoding="utf-8").replace("10.22.0.0/16", "10.99.0.0/16")
    path = tmp_path / "absent.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_lab_that_is_down_is_refused(absent_lab: Path) -> None:
    with pytest.raises(LabError, match=r"the lab 'absent' is not up \(no 10\.99\.159\.254 on this machine\)"):
        require_lab_up(load_inventory(absent_lab))


def test_production_is_not_held_back() -> None:
    require_lab_up(load_inventory(REPO / "inventory" / "quangninh.yml"))


@pytest.mark.parametrize("command", [["deploy"], ["verify"], ["net", "diff"], ["net", "push"], ["monitor", "status"]])
def test_commands_refuse_before_any_connection(absent_lab: Path, command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "-i", str(absent_lab)])
    assert result.exit_code == 1 and "is not up" in result.output and "Traceback" not in result.output
