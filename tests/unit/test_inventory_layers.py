"""The lookup order's merge rules: mappings merge at any depth, everything else (lists too) is replaced whole,
and the origin of every key path is the layer that last set it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from inventory.layers import Resolved

ROOT = Path(__file__).parents[2]


def test_mappings_merge_and_lists_replace() -> None:
    low = Resolved().over("defaults", {"ntp__servers": ["a", "b"], "names": {"frr": "wan{port}", "ios": "Gi{port}"}})
    high = low.over("site dc", {"ntp__servers": ["c"], "names": {"ios": "Te{port}"}})
    assert high.values == {"ntp__servers": ["c"], "names": {"frr": "wan{port}", "ios": "Te{port}"}}
    assert high.origin("ntp__servers") == "site dc"
    assert high.origin("names.frr") == "defaults" and high.origin("names.ios") == "site dc"
    assert high.origin("names") == "site dc"
    assert low.values["ntp__servers"] == ["a", "b"]  # layers never change what they were applied to


def test_a_mapping_replaced_by_a_scalar_forgets_its_inner_origins() -> None:
    low = Resolved().over("defaults", {"x": {"a": 1, "b": {"c": 2}}})
    high = low.over("host h", {"x": None})
    assert high.values == {"x": None} and high.origin("x") == "host h"
    assert high.origin("x.a") is None and high.origin("x.b.c") is None
    again = high.over("router r", {"x": {"d": 3}})
    assert again.values == {"x": {"d": 3}} and again.origin("x.d") == "router r"


def test_empty_layer_changes_nothing() -> None:
    base = Resolved().over("province", {"k": 1})
    assert base.over("site s", {}) is base


def test_plain_pyinfra_cli_loads_the_bridge() -> None:
    env = {**os.environ, "EGOV_INVENTORY": str(ROOT / "inventory" / "lab.yml")}
    proc = subprocess.run([sys.executable, "-m", "pyinfra", str(ROOT / "inventory" / "pyinfra.py"), "debug-inventory"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "[dc-db1]" in out and "role_db" in out and "site_tien-yen" in out and "level_district" in out
    assert '"ssh_strict_host_key_checking": "yes"' in out
