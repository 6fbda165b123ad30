"""The pyinfra internals the deploy runner relies on (deploys/pyinfra_internals.py) are still there.

When this fails after a pyinfra upgrade, the message names what moved: follow it in
deploys/pyinfra_internals.py only, then move the pin in pyproject.toml.
"""

from __future__ import annotations

import importlib
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from pyinfra.api.operation import OperationMeta

from deploys.pyinfra_internals import PATCHED, missing_internals

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _pinned() -> str:
    dependencies = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    return next(d.split("==", 1)[1] for d in dependencies if d.startswith("pyinfra=="))


def test_every_pyinfra_internal_the_runner_uses_is_there() -> None:
    missing = missing_internals()
    assert not missing, (
        f"pyinfra {version('pyinfra')} is installed; deploys/pyinfra_internals.py was written for pyinfra "
        f"{_pinned()} (the pin in pyproject.toml) and these of its internals are gone or changed:\n  "
        + "\n  ".join(missing))


def test_a_removed_function_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(importlib.import_module("pyinfra.api.operation"), PATCHED)
    assert missing_internals() == [f"pyinfra.api.operation.{PATCHED}: not there"]


def test_a_renamed_attribute_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    class Renamed(OperationMeta):
        def __init__(self, hash: str, is_change: bool | None) -> None:
            self._hash = hash
            self._would_change = is_change

    monkeypatch.setattr(importlib.import_module("pyinfra.api.operation"), "OperationMeta", Renamed)
    assert missing_internals() == ["pyinfra.api.operation.OperationMeta._maybe_is_change: not there"]


def test_a_removed_fact_internal_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(importlib.import_module("pyinfra.api.facts"), "_make_command")
    assert missing_internals() == ["pyinfra.api.facts._make_command: not there"]
