"""Staged rollout: the order in which a push changes the routers, as batches (plain data).

A push changes its routers batch by batch (``network.push.push``); a batch is finished (every device
confirmed, restored or failed) before the next one starts, and a batch with more failures than the
threshold stops the rollout: the later batches are left untouched.

- **Redundancy groups**: the routers of one site (the two province cores, a district's two routers) and
  the parents of a multi-homed router (the two cores above a dual-homed district, a district's two
  routers above a dual-homed commune). No batch holds two members of one group, so one member of every
  redundant pair keeps running the configuration that was known to work while the other changes.
- **Canary**: by default the first batch is one router, the first of the run at the deepest level (a
  leaf: its loss cuts one site, nothing below it). It tolerates no failure, whatever ``max_fail`` says.
- **Batch size** and **failure threshold** as Ansible's ``serial`` and ``max_fail_percentage``: a
  number, or a percentage of the run's routers (``"20%"``, rounded down, at least one) for the batch;
  a number of failures, or a percentage of the batch, that a batch may have (more stops the rollout).
  Defaults: ``network__rollout`` (inventory/defaults/network.yml), options ``--batch``, ``--max-fail``,
  ``--canary/--no-canary``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from egov.errors import InputError
from egov.results import Result
from inventory.model import Inventory, Router
from inventory.netvars import amount

KEY = "network__rollout"
Amount = int | str   # a count, or "N%"


def parse_amount(value: Any, what: str, minimum: int) -> Amount:
    """``value`` (an option's text, "5" or "20%", or an inventory value) as a count >= ``minimum`` or a
    percentage ``"N%"`` (``minimum``..100); refused with one message naming ``what``."""
    given = int(value) if isinstance(value, str) and value.strip().isdigit() else value
    try:
        return amount(given.strip() if isinstance(given, str) else given, minimum)
    except ValueError as exc:
        raise InputError(f"{what}: {value!r} {exc}") from None


def _count(amount: Amount, of: int) -> int:
    """Ansible's rounding of ``serial``: a percentage of ``of``, rounded down."""
    if isinstance(amount, str):
        return of * int(amount.rstrip("%")) // 100
    return amount


@dataclass(frozen=True)
class Settings:
    batch: Amount
    max_fail: Amount
    canary: bool


def settings(inv: Inventory, routers: Sequence[Router]) -> Settings:
    """The run's rollout settings: ``network__rollout`` of its routers, which must agree (it is one value
    per run; set it province-wide, or on a level whose routers you push on their own)."""
    seen: dict[str, list[str]] = {}
    for router in routers:
        seen.setdefault(repr(sorted(router.vars[KEY].items())), []).append(router.name)
    if len(seen) > 1:
        detail = "; ".join(f"{', '.join(names[:3])}{' ...' if len(names) > 3 else ''}: {value}"
                           for value, names in seen.items())
        raise InputError(f"{inv.path}: {KEY} differs between the routers of this run ({detail}); a run has one "
                         "rollout: set it province-wide, or --limit the push to routers that agree")
    values = routers[0].vars[KEY]
    return Settings(batch=parse_amount(values["batch"], f"{inv.path}: {KEY}.batch", 1),
                    max_fail=parse_amount(values["max_fail"], f"{inv.path}: {KEY}.max_fail", 0),
                    canary=values["canary"] is True)


def redundancy_groups(inv: Inventory, names: Iterable[str]) -> list[list[str]]:
    """Every group of the run's routers of which no two may change at once (two or more members)."""
    wanted = list(names)
    candidates = [site.routers for site in inv.sites.values()] + [inv.routers[name].uplinks for name in wanted]
    groups: list[list[str]] = []
    for members in candidates:
        in_run = [name for name in wanted if name in members]
        if len(in_run) > 1 and in_run not in groups:
            groups.append(in_run)
    return groups


@dataclass
class Plan:
    """The batches of one push, in order, and what stops it.

    + batches: router names per batch, the first the canary when ``canary``
    + canary: whether the first batch is a canary (tolerates no failure)
    + max_fail: failures a batch may have before the rollout stops (a count or "N%" of the batch)
    + groups: the redundancy groups the batches keep apart
    """

    batches: list[list[str]]
    canary: bool = False
    max_fail: Amount = 0
    groups: list[list[str]] = field(default_factory=list)

    def allowed(self, index: int) -> int:
        """How many failures batch ``index`` (0-based) may have without stopping the rollout."""
        if self.canary and index == 0:
            return 0
        size = len(self.batches[index])
        if isinstance(self.max_fail, str):  # Ansible: stop when *more than* the percentage failed
            return size * int(self.max_fail.rstrip("%")) // 100
        return self.max_fail

    def halts(self, index: int, results: Iterable[Result]) -> str | None:
        """Why the rollout stops after batch ``index`` given its results, or None to go on."""
        failed = [result.target for result in results if result.failed]
        if len(failed) <= self.allowed(index):
            return None
        label = "the canary batch" if self.canary and index == 0 else f"batch {index + 1}"
        return (f"{label} failed ({len(failed)} of {len(self.batches[index])}: {', '.join(failed)}; "
                f"max-fail {self.allowed(index)})")

    def label(self, index: int) -> str:
        return f"{index + 1}{' (canary)' if self.canary and index == 0 else ''}"

    def to_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "canary": self.canary, "max_fail": self.max_fail, "groups": self.groups}


def plan(inv: Inventory, routers: Sequence[Router], batch: Amount, max_fail: Amount, canary: bool) -> Plan:
    """Order ``routers`` into batches of at most ``batch`` routers, no two of one redundancy group in a
    batch, the canary first; within those rules the run's order is kept (each router goes to the first
    batch with room and no member of its groups)."""
    names = [router.name for router in routers]
    groups = redundancy_groups(inv, names)
    partners: dict[str, set[str]] = {name: set() for name in names}
    for members in groups:
        for name in members:
            partners[name] |= set(members) - {name}
    size = max(1, _count(batch, len(names)))
    batches: list[list[str]] = []
    rest = names
    use_canary = canary and len(names) > 1
    if use_canary:
        depth = max(inv.sites[router.site].depth for router in routers)
        first = next(router.name for router in routers if inv.sites[router.site].depth == depth)
        batches.append([first])
        rest = [name for name in names if name != first]
    start = len(batches)
    for name in rest:
        home = next((members for members in batches[start:]
                     if len(members) < size and not partners[name] & set(members)), None)
        if home is None:
            batches.append([name])
        else:
            home.append(name)
    return Plan(batches=batches, canary=use_canary, max_fail=max_fail, groups=groups)


def plan_for(inv: Inventory, routers: Sequence[Router], batch: str | None = None, max_fail: str | None = None,
             canary: bool | None = None) -> Plan:
    """The run's plan: what the options give (``--batch``, ``--max-fail``, ``--canary``; None: not given)
    over the inventory's ``network__rollout``."""
    given = settings(inv, routers)
    return plan(inv, routers,
                batch=given.batch if batch is None else parse_amount(batch, "--batch", 1),
                max_fail=given.max_fail if max_fail is None else parse_amount(max_fail, "--max-fail", 0),
                canary=given.canary if canary is None else canary)
