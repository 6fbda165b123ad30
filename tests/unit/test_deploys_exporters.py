"""Shipping the egov exporter: its package goes to the host as a directory, facts in, commands out."""

from __future__ import annotations

import hashlib
from typing import Any

from pyinfra.api import Config, Inventory, State
from pyinfra.api.command import FileUploadCommand, StringCommand
from pyinfra.context import ctx_host, ctx_state
from pyinfra.facts.files import Directory, File, FindFiles, Sha1File
from pyinfra.operations import files

from deploys.exporters import CODE_DIR, EXPORTER_PACKAGE, PACKAGE_SYNC, REPO, exporter_files
from tests.support.fake_host import FakeHost

DEST = f"{CODE_DIR}/{EXPORTER_PACKAGE}"
PACKAGE = [rel for rel in exporter_files() if rel.startswith(f"{EXPORTER_PACKAGE}/")]


def shipped_facts(extra: list[str]) -> dict[Any, Any]:
    """A host that has the package as the repo holds it, plus ``extra`` files in its directory."""
    facts: dict[Any, Any] = {(Directory, DEST): {"mode": 755, "user": "root", "group": "root"},
                             (FindFiles, DEST): [f"{CODE_DIR}/{rel}" for rel in PACKAGE] + extra}
    for path in extra:
        facts[(File, path)] = {"mode": 644, "user": "root", "group": "root", "size": 1}
    for rel in PACKAGE:
        data = (REPO / rel).read_bytes()
        facts[(File, f"{CODE_DIR}/{rel}")] = {"mode": 644, "user": "root", "group": "root", "size": len(data)}
        facts[(Sha1File, f"{CODE_DIR}/{rel}")] = hashlib.sha1(data).hexdigest()
    return facts


def ship(facts: dict[Any, Any]) -> list[Any]:
    state = State()
    state.init(Inventory(([], {})), Config())  # files.put reads the config (diff mode) for new files
    with ctx_state.use(state), ctx_host.use(FakeHost(facts=facts)):
        return [c.get_raw_value() if isinstance(c, StringCommand) else c for c in files.sync._inner(**PACKAGE_SYNC)]


def test_every_module_of_the_package_is_shipped() -> None:
    assert {f"{EXPORTER_PACKAGE}/{name}" for name in ("__init__.py", "__main__.py", "config.py")} <= set(PACKAGE)
    uploads = [c for c in ship({}) if isinstance(c, FileUploadCommand)]
    assert sorted(c.dest for c in uploads) == sorted(f"{CODE_DIR}/{rel}" for rel in PACKAGE)


def test_a_second_run_changes_nothing_though_the_check_left_bytecode() -> None:
    assert ship(shipped_facts([f"{DEST}/__pycache__/config.cpython-311.pyc"])) == []


def test_a_module_gone_from_the_package_is_removed_from_the_host() -> None:
    assert ship(shipped_facts([f"{DEST}/retired.py"])) == [f"rm -f {DEST}/retired.py"]
