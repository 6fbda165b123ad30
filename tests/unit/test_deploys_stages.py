"""The deploy's stages, without hosts: which hosts go first, and one host's result over its stages."""

from __future__ import annotations

from deploys.stages import merge_stage_results, plan_stages
from egov.results import Result
from inventory.pyinfra_bridge import Groups


def test_stages_put_foundation_hosts_first_then_db_hosts_then_the_rest() -> None:
    groups: Groups = {"role_mirror": ([("ops1", {})], {}), "role_ntp": ([("app1", {}), ("db2", {})], {}),
              "role_db": ([("db1", {}), ("db2", {})], {})}
    assert plan_stages(["app1", "app2", "db1", "db2", "ops1"], groups) == [
        (["ops1"], ("base", "mirror")), (["app1", "db2"], ("base", "ntp")), (["db1", "db2"], None),
        (["app1", "app2", "ops1"], None)]
    assert plan_stages(["db1"], groups) == [(["db1"], None)]
    assert plan_stages(["app2"], groups) == [(["app2"], None)]


def test_merge_adds_changes_and_keeps_first_failure() -> None:
    data = {"changes": 2, "changed_ops": ["a", "b"], "ops": 5, "failed_op": "", "seconds": 1.0, "dry": False}
    a = Result("ops1", changed=True, failed=True, error="cannot connect", data={**data, "failed_op": ""})
    b = Result("ops1", changed=True, data={**data, "changes": 3, "changed_ops": ["c", "d", "e"]})
    merged = merge_stage_results(a, b)
    assert merged.failed and merged.error == "cannot connect" and merged.data["changes"] == 5
    assert merged.data["changed_ops"] == ["a", "b", "c", "d", "e"]
