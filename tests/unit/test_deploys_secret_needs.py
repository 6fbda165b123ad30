"""The role -> secrets table against the roles themselves: every secret a role's deploy reads on
its recorded cases is in the table, so a run missing it is refused before any host is touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploys.context import DeployContext
from deploys.secret_needs import needed
from tests.support.role_harness import case_files, deploy_context, load_case, run_role

CASES = [(path, role) for path in case_files() if path.stem.startswith("bare") for role in load_case(path)["roles"]]


@pytest.mark.parametrize(("path", "role"), CASES, ids=[f"{p.parent.name}/{p.stem}:{r}" for p, r in CASES])
def test_a_role_reads_only_the_secrets_the_table_lists(path: Path, role: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    read: set[str] = set()
    real = DeployContext.secret

    def recording(self: DeployContext, name: str) -> str:
        read.add(name)
        return real(self, name)

    monkeypatch.setattr(DeployContext, "secret", recording)
    case = load_case(path)
    with deploy_context(tmp_path) as inv:
        run_role(inv, role, case["host"], case["facts"], case=case["case"])
        host: Any = inv.hosts[case["host"]]
        listed = set(needed(inv, [host]))
    assert read <= listed, f"{role} on {case['host']} reads secrets the table lacks: {sorted(read - listed)}"
