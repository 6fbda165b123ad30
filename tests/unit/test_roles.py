"""Every role's deploy as data: a recorded fact set in, the operations and commands out.

One case per file in ``tests/fixtures/roles/<role>/<case>.yml`` (``tests/support/role_harness.py``
says the format). A ``bare`` case is a fresh Debian 12 (packages and files absent); a
``converged`` case is a host where everything is in place, and all its operations are no-ops:
the roles' idempotence, in data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deploys.roles import ROLES
from tests.support.role_harness import case_files, deploy_context, first_difference, load_case, run_role

CASES = [(path, role) for path in case_files() for role in load_case(path)["roles"]]


@pytest.mark.parametrize(("path", "role"), CASES, ids=[f"{p.parent.name}/{p.stem}:{r}" for p, r in CASES])
def test_role_yields_the_expected_operations(path: Path, role: str, tmp_path: Path) -> None:
    case = load_case(path)
    with deploy_context(tmp_path) as inv:
        run = run_role(inv, role, case["host"], case["facts"], case=f"{case['case']} ({role})")
    difference = first_difference(case["operations"], run.operations)
    assert difference is None, f"{case['case']} ({role}): {difference}"
    assert run.unused_facts == [], f"{case['case']}: facts the role never asks"
    if path.stem.startswith("converged"):
        assert [op.name for op in run.operations if op.commands] == [], "a converged host has nothing to do"


def test_every_role_has_a_bare_host_case() -> None:
    have = {role for path, role in CASES if path.stem.startswith("bare")}
    assert set(ROLES) <= have, f"roles without a bare-host case: {sorted(set(ROLES) - have)}"
