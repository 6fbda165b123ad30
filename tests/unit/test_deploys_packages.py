"""One apt transaction for all of a host's roles (deploys/packages.py): base installs every
package each role's own operations would install, so the roles find them there."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploys.packages import OWN_TRANSACTION, of_roles
from inventory.services import roles_of
from tests.support.role_harness import case_files, deploy_context, load_case, run_role

BARE = [(path, role) for path in case_files() if path.stem.startswith("bare")
        for role in load_case(path)["roles"] if role != "base" and role not in OWN_TRANSACTION]


def installed(commands: list[object]) -> list[str]:
    """The packages an apt-get install command line names."""
    names: list[str] = []
    for command in commands:
        if isinstance(command, str) and " apt-get " in f" {command}" and " install " in command:
            names += [w for w in command.split(" install ", 1)[1].split() if not w.startswith("-")]
    return names


@pytest.mark.parametrize(("path", "role"), BARE, ids=[f"{p.parent.name}/{p.stem}:{r}" for p, r in BARE])
def test_base_installs_what_each_role_installs(path: Path, role: str, tmp_path: Path) -> None:
    case = load_case(path)
    with deploy_context(tmp_path) as inv:
        run = run_role(inv, role, case["host"], case["facts"], case=case["case"])
        full, lean = of_roles(roles_of([*inv.hosts[case["host"]].roles, role]))
    wanted = [p for op in run.operations for p in installed(op.commands)]
    assert set(wanted) <= set(full) | set(lean), f"{role}: not in base's transaction: {set(wanted) - {*full, *lean}}"


def test_each_package_once_and_recommends_as_the_roles_ask() -> None:
    full, lean = of_roles(["base", "exporters", "db", "monitoring", "backup"])
    assert len(full + lean) == len(set(full + lean))
    assert "postgresql-15" in full and "nginx" in full  # the monitoring host's on-call page runs on nginx
    assert {"prometheus", "prometheus-node-exporter", "prometheus-postgres-exporter"} <= set(lean)
    assert of_roles(["base", "ntp"]) == ([], [])
