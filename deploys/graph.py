"""The deploy as a graph of steps: which host waits for what, and why. Plain data and functions
(no pyinfra import): the parent runner schedules the steps, ``egov deploy --plan`` prints them.

A step is one host with some of its roles. A host that carries a foundation role (``FOUNDATION``:
one that ``base`` itself needs on other hosts) first gets ``base`` and that role alone, so the hosts
waiting for it can start; then every host gets a main step of all its roles (those already applied
are no-ops) but the late ones (``LATE``: a role that needs something on every host, such as the
backup pulling every host's files), which get a step of their own at the end. A step waits only
for the steps that apply what its roles need (``NEEDS``) on other
selected hosts, and does not start when one of them failed, except where it only needs them
ended (``ENDED``); everything else runs at once. Hosts outside the selection are taken as already
deployed (a run limited to one district uses the data centre's mirror as it is).

Rolling (``ROLLING``): the hosts that share a redundant role form a group; when the group is in
service, its members' steps go one batch (``serial`` hosts) after another, each batch checked
healthy (``deploys/health.py``) before the next starts.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from egov.errors import DeployError, InputError
from egov.results import Result
from inventory.applications import APPS
from inventory.pyinfra_bridge import Groups, HostEntry
from inventory.services import CRITICAL_ROLES, EVERY_HOST, roles_of

# What a role needs in place on the OTHER hosts that carry the needed role before it is applied,
# with the reason the plan prints. A role never waits for its own peers: they configure together.
NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    "base": (("mirror", "apt goes through the package mirror"),
             ("ntp", "chrony is pointed at the time servers and must reach them")),
    "backup": (("db", "it dumps every application database and test-restores it"),
               ("backup_source", "it pulls every host's files with the key backup_source installs")),
    # postfix fails every lookup it could not make at first (451) until its processes recycle, and
    # the Alertmanager gives up on a page after its retries: a mail host up before the directory
    # loses the first deploy's pages
    "mail": (("directory", "postfix and dovecot take every mailbox and alias from it"),),
    **{role: (("db", f"{app.name}'s database and role must exist"),) for role, app in APPS.items()},
}
# Needed roles whose failure on another host does not stop the step that needs them: the backup
# pulls the hosts that are up, logs the pull that fails, and DATA-03 reports the host left without
# an archive; one dead commune node must not stop the province's backups.
ENDED: tuple[str, ...] = ("backup_source",)
# Roles that an every-host role needs: their hosts get base and the role alone first, in this order
# (the time servers' own apt goes through the mirror).
FOUNDATION: tuple[str, ...] = ("mirror", "ntp")
# Roles that need an every-host role on the other hosts: a step of their own after every host's
# main step, so the rest of their host's roles need not wait.
LATE: tuple[str, ...] = tuple(role for role, needs in NEEDS.items() if any(n in EVERY_HOST for n, _ in needs))
# The redundant roles whose hosts are changed one batch after another: the Tier 3 pairs and the
# time servers.
ROLLING: tuple[str, ...] = (*CRITICAL_ROLES, "ntp")


@dataclass
class Step:
    """One host's step.

    + id: ``<host>`` for its main step, ``<host>:<role>`` for a foundation or a late step
    + host: inventory name; ssh_name: its pyinfra name
    + only: the roles applied (None: all of the host's)
    + needs: ``(step id, why)`` of the steps it waits for (its own earlier step included)
    + ended: those of ``needs`` it needs ended only, not succeeded (``ENDED``)
    + after: the step of the previous rolling batch it waits for (done and healthy), if any
    + group: the rolling group it belongs to ("" when none)
    """

    id: str
    host: str
    ssh_name: str
    only: tuple[str, ...] | None
    needs: list[tuple[str, str]] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    group: str = ""

    def roles(self, host_roles: Sequence[str]) -> list[str]:
        """The roles this step applies on a host whose own roles are ``host_roles``."""
        every = roles_of(host_roles)
        return [r for r in every if self.only is None or r in self.only]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "only": list(self.only) if self.only else None,
                "needs": [{"step": s, "why": why, "must_succeed": s not in self.ended} for s, why in self.needs],
                "after": self.after,
                "group": self.group}


@dataclass
class Plan:
    """The steps of a run, in a valid order, and the rolling groups (name -> members in order)."""

    steps: dict[str, Step]
    groups: dict[str, list[str]]
    host_roles: dict[str, list[str]]
    serial: int = 1
    max_fail_percent: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"steps": [s.to_dict() | {"roles": s.roles(self.host_roles[s.host])} for s in self.steps.values()],
                "rolling": {"serial": self.serial, "max_fail_percent": self.max_fail_percent,
                            "groups": self.groups},
                "waves": self.waves()}

    def waves(self) -> list[list[str]]:
        """The steps grouped by how soon they can start if every step took the same time: what
        ``--plan`` shows; the runner starts each step as soon as its own needs are met."""
        level: dict[str, int] = {}
        for step_id, step in self.steps.items():  # steps are in dependency order
            before = [s for s, _ in step.needs] + step.after
            level[step_id] = 1 + max((level[s] for s in before), default=-1)
        waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for step_id, n in level.items():
            waves[n].append(step_id)
        return waves

    def text(self) -> str:
        """The plan as lines for a person: each wave's steps, with what each waits for and why."""
        lines = []
        for n, wave in enumerate(self.waves(), 1):
            lines.append(f"wave {n}:")
            for step_id in wave:
                step = self.steps[step_id]
                roles = ", ".join(step.roles(self.host_roles[step.host]))
                lines.append(f"  {step_id}: {roles}")
                lines += [f"      after {s}: {why}{' (ended, whatever its outcome)' if s in step.ended else ''}"
                          for s, why in step.needs]
                lines += [f"      after {s}: rolling group {step.group}, checked healthy first" for s in step.after]
        for name, members in self.groups.items():
            lines.append(f"rolling {name}: {' then '.join(members)} (batches of {self.serial}, "
                         f"stop above {self.max_fail_percent}% failed; at once when no member is in service)")
        return "\n".join(lines)


def rolling_groups(host_roles: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Hosts sharing a ``ROLLING`` role, joined into groups (a host in two pairs joins them), in
    the order given; the group's name lists its roles. Hosts alone in a group roll nothing."""
    groups: list[tuple[set[str], list[str]]] = []  # (roles, hosts)
    for host, roles in host_roles.items():
        mine = {r for r in roles if r in ROLLING}
        if not mine:
            continue
        joined = [g for g in groups if g[0] & mine]
        roles_set, hosts = set(mine), [host]
        for g in joined:
            groups.remove(g)
            roles_set |= g[0]
            hosts = g[1] + hosts
        groups.append((roles_set, hosts))
    order = list(host_roles)
    def name(roles: set[str]) -> str:
        apps = [r for r in ROLLING if r in roles and r in APPS]
        return "+".join([r for r in ROLLING if r in roles and r not in APPS] + (["app_*"] if apps else []))

    return {name(roles_set): sorted(hosts, key=order.index)
            for roles_set, hosts in groups if len(hosts) > 1}


def plan(hosts: Sequence[tuple[str, str, Sequence[str]]], serial: int = 1, max_fail_percent: int = 0,
         in_service: Mapping[str, bool] | None = None) -> Plan:
    """The steps for ``hosts`` (``(inventory name, ssh name, own roles)``, in inventory order).

    + serial: hosts of a rolling group changed at once (``--serial``)
    + max_fail_percent: share of a group's hosts that may fail before the rest are not started
    + in_service: per group name, whether a member answered healthy before the run (None: all are,
      a group it leaves out is not);
      a group with no member in service (a first deploy) is not rolled: there is nothing to keep up
    """
    if serial < 1:
        raise InputError(f"--serial: expected a number of hosts of at least 1, got {serial}")
    if not 0 <= max_fail_percent <= 100:
        raise InputError(f"--max-fail: expected a percentage from 0 to 100, got {max_fail_percent}")
    host_roles = {name: roles_of(roles) for name, _, roles in hosts}
    ssh = {name: ssh_name for name, ssh_name, _ in hosts}
    steps: dict[str, Step] = {}
    applies: dict[str, list[str]] = {}  # role -> ids of the steps that apply it

    def add(step: Step, roles: Sequence[str]) -> None:
        steps[step.id] = step
        for role in roles:
            applies.setdefault(role, []).append(step.id)

    for foundation in FOUNDATION:
        for name, roles in host_roles.items():
            if foundation in roles:
                add(Step(f"{name}:{foundation}", name, ssh[name], ("base", foundation)), [foundation])
    for name, roles in host_roles.items():
        late = [r for r in roles if r in LATE]
        main = tuple(r for r in roles if r not in late)
        add(Step(name, name, ssh[name], main if late else None), [r for r in main if r not in FOUNDATION])
        for role in late:
            add(Step(f"{name}:{role}", name, ssh[name], (role,)), [role])
    for step in steps.values():
        own = step.roles(host_roles[step.host])
        mine = [s.id for s in steps.values() if s.host == step.host]
        if step.id != mine[0]:
            step.needs.append((mine[mine.index(step.id) - 1], "this host's earlier step"))
        # a foundation step waits for the foundations before it only (the mirror for no one)
        foundation_step = step.only is not None and len(step.only) == 2 and step.only[1] in FOUNDATION
        ignored = set(FOUNDATION[FOUNDATION.index(step.only[1]):]) if step.only and foundation_step else set()
        for role in own:
            for needed, why in NEEDS.get(role, ()):
                if (needed in own and needed not in EVERY_HOST) or needed in ignored:
                    continue  # peers of one role configure together
                for other in applies.get(needed, []):
                    if steps[other].host == step.host:
                        continue
                    if other not in (s for s, _ in step.needs):
                        step.needs.append((other, f"{role}: {why}"))
                        if needed in ENDED:
                            step.ended.append(other)
                    elif needed not in ENDED and other in step.ended:
                        step.ended.remove(other)  # needed ended for one role, succeeded for another
    groups = rolling_groups(host_roles)
    for group, members in groups.items():
        if in_service is not None and not in_service.get(group, False):
            continue
        batches = [members[i:i + serial] for i in range(0, len(members), serial)]
        # one chain per group over (step kind, batch): every member's foundation steps, then their last
        kinds = [f":{f}" for f in FOUNDATION] + ["", *(f":{r}" for r in LATE)]
        chain = [[f"{m}{kind}" for m in batch if f"{m}{kind}" in steps] for kind in kinds for batch in batches]
        chain = [links for links in chain if links]
        for before, then in itertools.pairwise(chain):
            for step_id in then:
                steps[step_id].after = list(before)
        for member in members:
            for step in steps.values():
                if step.host == member:
                    step.group = group
    return Plan(_ordered(steps), groups, host_roles, serial, max_fail_percent)


def _ordered(steps: dict[str, Step]) -> dict[str, Step]:
    """``steps`` in an order where every step comes after all it waits for; a cycle is a DeployError."""
    out: dict[str, Step] = {}
    pending = dict(steps)
    while pending:
        ready = [s for s in pending.values() if all(n in out for n, _ in s.needs) and all(a in out for a in s.after)]
        if not ready:
            raise DeployError("the deploy's steps wait for each other: " + ", ".join(sorted(pending)))
        for s in ready:
            out[s.id] = pending.pop(s.id)
    return out


def members(groups: Groups) -> list[HostEntry]:
    """Every host of ``groups`` (the pyinfra bridge's) once, as ``(ssh_name, host data)``, in the
    order first met."""
    seen: dict[str, dict[str, Any]] = {}
    for group_members, _ in groups.values():
        for ssh_name, data in group_members:
            seen.setdefault(ssh_name, data)
    return list(seen.items())


def merge_results(first: Result | None, second: Result) -> Result:
    """One host's result over its steps: changes, operations and seconds add up; a failure in an
    earlier step stays."""
    if first is None:
        return second
    changes = first.data["changes"] + second.data["changes"]
    return Result(target=second.target, changed=changes > 0, failed=first.failed or second.failed,
                  diff="\n".join(d for d in (first.diff, second.diff) if d),
                  error=first.error or second.error,
                  data={**second.data, "changes": changes,
                        "changed_ops": first.data["changed_ops"] + second.data["changed_ops"],
                        "ops": first.data.get("ops", 0) + second.data.get("ops", 0),
                        "seconds": first.data["seconds"] + second.data["seconds"],
                        "failed_op": first.data["failed_op"] or second.data["failed_op"]})
