"""The deploy's graph, without hosts: which step waits for which, and why; the rolling chains."""

from __future__ import annotations

import pytest

from deploys.graph import LATE, Plan, merge_results, plan, rolling_groups
from egov.errors import DeployError, InputError
from egov.results import Result
from inventory import load_inventory

LAB = load_inventory("inventory/lab.yml")
HOSTS = [(h.name, h.name, h.roles) for h in LAB.hosts.values()]


def needs(p: Plan, step: str) -> set[str]:
    return {s for s, _ in p.steps[step].needs}


def test_foundations_first_then_each_host_waits_only_for_what_it_needs() -> None:
    p = plan(HOSTS, in_service={})
    # the mirror host's base and mirror wait for nothing; the time servers for the mirror alone
    assert needs(p, "dc-ops1:mirror") == set()
    assert needs(p, "dc-app1:ntp") == needs(p, "dc-app2:ntp") == {"dc-ops1:mirror"}
    # the db hosts and the district nodes: apt and time only, not each other, not the databases
    for host in ("dc-db1", "dc-db2", "qn-ty-node1", "qn-dh-node1"):
        assert needs(p, host) == {"dc-ops1:mirror", "dc-app1:ntp", "dc-app2:ntp"}, host
    # the applications need their databases
    assert {"dc-db1", "dc-db2"} <= needs(p, "dc-app1")
    # the backup is its own late step: every host's main step first (it pulls their files)
    assert "backup" in LATE and p.steps["dc-ops1:backup"].only == ("backup",)
    assert needs(p, "dc-ops1:backup") >= {"dc-ops1", "dc-app1", "dc-app2", "dc-db1", "dc-db2", "qn-ty-node1"}
    assert "backup" not in (p.steps["dc-ops1"].only or ())
    # ... ended, whatever their outcome, but the databases' steps, which it needs succeeded
    backup = p.steps["dc-ops1:backup"]
    assert {"qn-ty-node1", "qn-dh-node1", "dc-app1"} <= set(backup.ended)
    assert "dc-ops1" not in backup.ended  # its own earlier step
    assert not {"dc-db1", "dc-db2"} & set(backup.ended)
    assert "(ended, whatever its outcome)" in p.text()
    # every step's reason names the role that needs it
    reasons = dict(p.steps["dc-app1"].needs)
    assert reasons["dc-db1"].startswith("app_docmgmt: ") and "database" in reasons["dc-db1"]


def test_waves_put_independent_hosts_together() -> None:
    waves = plan(HOSTS, in_service={}).waves()
    assert waves[0] == ["dc-ops1:mirror"]
    assert set(waves[1]) == {"dc-app1:ntp", "dc-app2:ntp"}
    assert {"dc-db1", "dc-db2", "qn-ty-node1", "qn-dh-node1"} <= set(waves[2])
    # the mail host after the directory it takes its mailboxes from, with the applications
    assert {"dc-ops1", "dc-app1", "dc-app2"} <= set(waves[3])
    assert waves[-1] == ["dc-ops1:backup"]


def test_a_limited_run_takes_the_hosts_outside_it_as_deployed() -> None:
    p = plan([h for h in HOSTS if h[0] == "qn-ty-node1"])
    assert list(p.steps) == ["qn-ty-node1"] and needs(p, "qn-ty-node1") == set()


def test_pairs_in_service_roll_one_member_after_the_other() -> None:
    p = plan(HOSTS)
    assert p.groups == {"dns+web+lb+ntp+app_*": ["dc-app1", "dc-app2"], "directory+db": ["dc-db1", "dc-db2"]}
    assert p.steps["dc-db2"].after == ["dc-db1"] and p.steps["dc-db1"].after == []
    # one chain over the pair: both time-server steps, then both main steps
    assert p.steps["dc-app2:ntp"].after == ["dc-app1:ntp"]
    assert p.steps["dc-app1"].after == ["dc-app2:ntp"] and p.steps["dc-app2"].after == ["dc-app1"]
    assert p.steps["qn-ty-node1"].after == [] and p.steps["qn-ty-node1"].group == ""


def test_a_group_with_no_member_in_service_is_not_rolled() -> None:
    p = plan(HOSTS, in_service={"db": False, "dns+web+lb+ntp+app_*": True})
    assert p.steps["dc-db2"].after == [] and p.steps["dc-app2"].after == ["dc-app1"]


def test_serial_batches_a_larger_group() -> None:
    hosts = [(f"web{i}", f"web{i}", ["web"]) for i in range(5)]
    p = plan(hosts, serial=2)
    assert [p.steps[f"web{i}"].after for i in range(5)] == [[], [], ["web0", "web1"], ["web0", "web1"],
                                                            ["web2", "web3"]]
    assert "web0 then web1" in p.text() and "batches of 2" in p.text()


def test_groups_join_through_a_shared_host() -> None:
    assert rolling_groups({"a": ["dns"], "b": ["dns", "web"], "c": ["web"], "d": ["mail"]}) == {
        "dns+web": ["a", "b", "c"]}


@pytest.mark.parametrize(("serial", "max_fail"), [(0, 0), (1, 101), (1, -1)])
def test_bad_rolling_options_are_input_errors(serial: int, max_fail: int) -> None:
    with pytest.raises(InputError):
        plan(HOSTS, serial=serial, max_fail_percent=max_fail)


def test_every_step_comes_after_what_it_waits_for_and_a_cycle_is_refused() -> None:
    p = plan(HOSTS)
    order = list(p.steps)
    for step in p.steps.values():
        assert all(order.index(n) < order.index(step.id) for n, _ in step.needs + [(a, "") for a in step.after])
    from deploys import graph

    with pytest.raises(DeployError, match="wait for each other"):
        graph._ordered({"a": graph.Step("a", "a", "a", None, needs=[("b", "")]),
                        "b": graph.Step("b", "b", "b", None, needs=[("a", "")])})


def test_merge_results_adds_changes_and_keeps_failures() -> None:
    data = {"changes": 2, "changed_ops": ["x", "y"], "ops": 10, "seconds": 1.0, "failed_op": ""}
    first = Result(target="h", changed=True, failed=True, error="operation failed: x", data={**data, "failed_op": "x"})
    second = Result(target="h", changed=True, data={**data, "changes": 1, "changed_ops": ["z"]})
    merged = merge_results(first, second)
    assert merged.failed and merged.error == "operation failed: x"
    assert merged.data["changes"] == 3 and merged.data["changed_ops"] == ["x", "y", "z"]
    assert merged.data["ops"] == 20 and merged.data["seconds"] == 2.0
    assert merged.data["failed_op"] == "x" and merge_results(None, second) is second
