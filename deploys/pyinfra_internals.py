"""The parts of pyinfra's internals the deploy runner relies on, read and patched here only.

pyinfra's API (3.10) gives no per-host name of an operation, no "would it change" that does not
run its command generator again, and no way to let a host sit out the execution without failing
it. The runner takes them from pyinfra's private attributes, all of which are in this module:

- ``pyinfra.api.operation.solve_operation_consistency(names, state, host)``: patched while deploys
  are prepared, to record each host's own operation names;
- ``State.ops[host][op_hash]`` (``StateOperationHostData``): its ``.operation_meta`` and
  ``.global_arguments["_if"]``;
- ``OperationMeta._maybe_is_change``: set while preparing (``check_for_changes``);
- ``Host.op_hash_order``: a host's prepared operations, in order;
- ``State.active_hosts``: the hosts the execution runs on.

``missing_internals()`` prepares one operation on a local host and reads it back through this
module; its unit test fails, naming what is gone, when a pyinfra upgrade renames any of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyinfra.api import Host, State
    from pyinfra.api.operation import OperationMeta

PATCHED = "solve_operation_consistency"


@dataclass(frozen=True)
class PreparedOp:
    """One operation prepared for one host.

    + op_hash: pyinfra's hash of it (shared by the hosts that have an operation at that position)
    + meta: its ``OperationMeta``, whose public ``is_complete()``, ``did_change()``,
      ``did_succeed()``, ``did_error()`` and ``stderr_lines`` tell how it ran
    + may_change: preparing found a command to run (false: nothing to change on the host)
    + dependent: it runs only when an earlier operation changed something (its ``_if``)
    """

    op_hash: str
    meta: OperationMeta
    may_change: bool
    dependent: bool


def _operation_module() -> ModuleType:
    # the module itself: ``pyinfra.api.operation`` as an attribute of ``pyinfra.api`` is the decorator
    return importlib.import_module("pyinfra.api.operation")


@contextmanager
def recording_op_names(op_names: dict[str, dict[str, str]]) -> Iterator[None]:
    """Record each host's own name for each of its operations (``op_names[host.name][op_hash]``)
    while deploys are prepared.

    In API mode pyinfra shares one operation hash among all hosts at the same position and
    merges their names, so the progress display would show other hosts' operations; the names
    are taken where pyinfra pairs them with a host (``solve_operation_consistency``).
    """
    op_module = _operation_module()
    original = getattr(op_module, PATCHED)

    def recording(names: set[str], state: State, host: Host) -> Any:
        op_order, op_hash = original(names, state, host)
        op_names.setdefault(host.name, {})[op_hash] = ", ".join(sorted(names))
        return op_order, op_hash

    setattr(op_module, PATCHED, recording)
    try:
        yield
    finally:
        setattr(op_module, PATCHED, original)


def op_count(host: Host) -> int:
    """How many operations were prepared for ``host`` (those run once and skipped included)."""
    return len(host.op_hash_order)


def _prepared(state: State, host: Host, op_hash: str) -> PreparedOp:
    data = state.ops[host][op_hash]
    meta = data.operation_meta
    return PreparedOp(op_hash, meta, bool(meta._maybe_is_change), bool(data.global_arguments.get("_if")))


def prepared_op(state: State, host: Host, op_hash: str) -> PreparedOp | None:
    """The operation ``op_hash`` of ``host``, None when the host has no such operation."""
    return _prepared(state, host, op_hash) if op_hash in state.ops[host] else None


def prepared_ops(state: State, host: Host) -> list[PreparedOp]:
    """The operations prepared for ``host``, in its order."""
    return [_prepared(state, host, h) for h in host.op_hash_order if h in state.ops[host]]


def sit_out(state: State, hosts: Iterable[Host]) -> None:
    """Leave ``hosts`` out of the execution without failing them (``fail_hosts`` would)."""
    state.active_hosts -= set(hosts)


def _lacking(obj: object, owner: str, *attributes: str) -> list[str]:
    # set by the object itself (a class-level default would hide a rename)
    return [f"{owner}.{name}: not there" for name in attributes if name not in vars(obj)]


def missing_internals() -> list[str]:
    """What of the above the installed pyinfra lacks or no longer does, each named; empty when
    all is there. Prepares two operations on ``@local`` (nothing is connected or run)."""
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.operation import add_op
    from pyinfra.operations import server

    if not callable(getattr(_operation_module(), PATCHED, None)):
        return [f"pyinfra.api.operation.{PATCHED}: not there"]
    inventory = Inventory((["@local"], {}))
    state = State(check_for_changes=True)
    state.init(inventory, Config())
    host = inventory.get_host("@local")
    op_names: dict[str, dict[str, str]] = {}
    with recording_op_names(op_names):
        add_op(state, server.shell, commands=["true"], host=host, name="probe")
        add_op(state, server.shell, commands=["true"], host=host, name="after", _if=lambda: True)
    missing = _lacking(host, "pyinfra.api.host.Host", "op_hash_order") + _lacking(
        state, "pyinfra.api.state.State", "ops", "active_hosts")
    if missing:
        return missing
    prepared = list(state.ops[host].values())
    missing = [m for data in prepared for m in _lacking(
        data, "pyinfra.api.state.StateOperationHostData", "operation_meta", "global_arguments")]
    if not missing:
        missing = [m for data in prepared for m in _lacking(
            data.operation_meta, "pyinfra.api.operation.OperationMeta", "_maybe_is_change")]
    if missing:
        return sorted(set(missing))
    problems = []
    if sorted(op_names.get(host.name, {}).values()) != ["after", "probe"]:
        problems.append(f"pyinfra.api.operation.{PATCHED}: no longer called with (names, state, host) for each "
                        f"operation prepared (recorded: {op_names})")
    ops = prepared_ops(state, host)
    if op_count(host) != 2 or [prepared_op(state, host, op.op_hash) for op in ops] != ops:
        problems.append(f"Host.op_hash_order, State.ops: two operations prepared, {op_count(host)} in order, "
                        f"read back as {ops}")
    elif [(op.may_change, op.dependent) for op in ops] != [(True, False), (True, True)]:
        problems.append("OperationMeta._maybe_is_change, StateOperationHostData.global_arguments['_if']: two "
                        f"operations with a command to run, the second under _if, read back as {ops}")
    state.activate_host(host)
    sit_out(state, [host])
    if host in inventory.get_active_hosts():
        problems.append("State.active_hosts: no longer the hosts Inventory.get_active_hosts() returns")
    return problems
