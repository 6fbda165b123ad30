"""The deploy's stages: which hosts run, with which of their roles, in which order; and one
host's result over the stages it ran in. Plain data and functions (no pyinfra import).

Stages (``STAGES``): the foundation services first, each on its own hosts with base and that role
alone (the mirror, then the time servers), then the db hosts, then every other host gets
everything.
"""

from __future__ import annotations

from typing import Any

from egov.results import Result
from inventory.pyinfra_bridge import Groups, HostEntry

# Stages, in order, as (role whose hosts run, only these roles of theirs; None: all): base and the
# mirror on the mirror hosts (every other host's apt goes through it); base and the time servers
# on the ntp hosts (a client configured before they answer backs off for minutes); the db hosts
# (the backup and the apps need their databases and roles to exist); then every other host.
STAGES: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("mirror", ("base", "mirror")), ("ntp", ("base", "ntp")), ("db", None), ("", None))
# One stage as planned: its hosts (ssh names) and the only roles they get (None: all of theirs).
Stage = tuple[list[str], tuple[str, ...] | None]


def members(groups: Groups) -> list[HostEntry]:
    """Every host of ``groups`` (the pyinfra bridge's) once, as ``(ssh_name, host data)``, in the
    order first met."""
    seen: dict[str, dict[str, Any]] = {}
    for group_members, _ in groups.values():
        for ssh_name, data in group_members:
            seen.setdefault(ssh_name, data)
    return list(seen.items())


def plan_stages(names: list[str], groups: Groups) -> list[Stage]:
    """``(hosts, only roles)`` per stage of ``STAGES`` that has hosts; the last holds every host that
    has not yet had all of its roles."""

    def with_role(role: str) -> list[str]:
        role_members = {ssh_name for ssh_name, _ in groups.get(f"role_{role}", ([], {}))[0]}
        return [n for n in names if n in role_members]

    stages: list[Stage] = []
    complete: set[str] = set()
    for role, only in STAGES:
        hosts = [n for n in (with_role(role) if role else names) if n not in complete]
        if hosts:
            stages.append((hosts, only))
        if only is None:
            complete.update(hosts)
    return stages


def merge_stage_results(first: Result | None, second: Result) -> Result:
    """One host's result over its stages: changes add up; a failure in an earlier stage stays."""
    if first is None:
        return second
    changes = first.data["changes"] + second.data["changes"]
    failed = first.failed or second.failed
    return Result(target=second.target, changed=changes > 0, failed=failed,
                  diff="\n".join(d for d in (first.diff, second.diff) if d),
                  error=first.error or second.error,
                  data={**second.data, "changes": changes,
                        "changed_ops": first.data["changed_ops"] + second.data["changed_ops"],
                        "seconds": first.data["seconds"] + second.data["seconds"],
                        "failed_op": first.data["failed_op"] or second.data["failed_op"]})
