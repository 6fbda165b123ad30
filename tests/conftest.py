"""Shared fixtures. ``lab``: ONE lab for the whole session, brought up from inventory/lab.yml.

Lab tests run in file order (tests/lab/test_10_lab.py ... test_90_lab_down.py) on the same
lab; the fixture never tears it down: test_90_lab_down.py does, and checks nothing is left.
$EGOV_LAB_NAME names another lab and $EGOV_INVENTORY another inventory (a copy of lab.yml with
another supernet), as for the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def network_secrets(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests render routers' configurations: the made-up secrets they hold, from the environment
    (lab tests use the lab's own, from its state directory)."""
    if request.node.get_closest_marker("lab") is None:
        from tests.support.network_secrets import NETWORK_SECRETS

        for name, value in NETWORK_SECRETS.items():
            monkeypatch.setenv(f"EGOV_SECRET_{name.upper()}", value)
LAB_INVENTORY = REPO / "inventory" / "lab.yml"


@pytest.fixture(scope="session")
def lab() -> Iterator[Any]:
    """The lab (``lab.Lab``), up: ``.inventory``, ``.connection``, ``.state_dir``, ``.exec(node, cmd)``,
    ``.stop_node(name)``, ``.start_node(name)``; ``.last_up`` is the report of its last ``up()``."""
    from inventory import load_inventory
    from lab import Lab

    the_lab = Lab(load_inventory(os.environ.get("EGOV_INVENTORY") or LAB_INVENTORY))
    report = the_lab.up()
    if report.nodes.failed:
        pytest.fail("lab up failed: " + "; ".join(f"{n}: {r.error}" for n, r in report.nodes.items() if r.failed))
    yield the_lab
