"""The parts of pyinfra's internals the deploy runner relies on, read and patched here only.

pyinfra's API (3.10) gives no per-host name of an operation, no "would it change" that does not
run its command generator again, and no way to let a host sit out the execution without failing
it. The runner takes them from pyinfra's private attributes, all of which are in this module:

- ``pyinfra.api.operation.solve_operation_consistency(names, state, host)``: patched while deploys
  are prepared, to record each host's own operation names;
- ``State.ops[host][op_hash]`` (``StateOperationHostData``): its ``.operation_meta`` and
  ``.global_arguments["_if"]``;
- ``OperationMeta._maybe_is_change``: set while preparing (``check_for_changes``);
- ``Host.op_hash_order``: a host's prepared operations, in order; ``Host.executing_op_hash``: the
  one it executes;
- ``State.active_hosts``: the hosts the execution runs on;
- ``pyinfra.api.facts._get_fact(state, host, cls, args, kwargs, ...)``: patched while facts are
  answered from a host's prefetched state (``answering_facts``), with the fact's command built as
  ``_get_fact`` builds it (``_handle_fact_kwargs``, ``_make_command``, the ``requires_command``
  guard and its ``_MISSING_COMMAND_MARKER``) and wrapped as the connector wraps it
  (``make_unix_command_for_host``);
- ``pyinfra.api.arguments.all_global_arguments()``: replaced by a cached copy of its answer
  (``cache_global_arguments``).

``missing_internals()`` prepares one operation on a local host and reads it back through this
module; its unit test fails, naming what is gone, when a pyinfra upgrade renames any of them.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyinfra.api import FactBase, Host, State
    from pyinfra.api.operation import OperationMeta

# offered every fact pyinfra gathers: (state, host, the fact, its shell line or None when it needs
# more than a line) -> its value, or MISS for pyinfra to gather it. The fact is the instance whose
# command() made the line (pyinfra's facts keep their arguments for process()).
FactHook = Callable[["State", "Host", "FactBase[Any]", "str | None"], Any]

PATCHED = "solve_operation_consistency"
FACT_PATCHED = "_get_fact"
ARGUMENTS_LISTED = "all_global_arguments"
# a hook's answer meaning "not known here": pyinfra gathers the fact itself
MISS: Any = object()
# connector arguments a shell line cannot carry (stdin, a pty, other exit codes, a password)
_UNBATCHABLE = ("_stdin", "_get_pty", "_sudo_password", "_su_password")


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

    @property
    def would_change(self) -> bool:
        """It would change the host by itself: a command to run and no ``_if`` (every ``_if`` of the
        deploys asks whether an earlier operation changed, so it runs only after one that would)."""
        return self.may_change and not self.dependent


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


def untouched(state: State, host: Host) -> bool:
    """While executing: ``host`` runs an operation that, as every one before it, would change
    nothing by itself when prepared, so nothing has been run on the host yet
    (``Host.executing_op_hash``)."""
    current = host.executing_op_hash
    if current is None or current not in host.op_hash_order:
        return False
    for op_hash in host.op_hash_order[:host.op_hash_order.index(current) + 1]:
        op = prepared_op(state, host, op_hash)
        if op is not None and op.would_change:
            return False
    return True


def sit_out(state: State, hosts: Iterable[Host]) -> None:
    """Leave ``hosts`` out of the execution without failing them (``fail_hosts`` would)."""
    state.active_hosts -= set(hosts)


def _facts_module() -> ModuleType:
    return importlib.import_module("pyinfra.api.facts")


def fact_command(state: State, host: Host, cls: type[FactBase[Any]], args: Any = None,
                 kwargs: Any = None) -> tuple[FactBase[Any], str | None]:
    """The fact and the shell line pyinfra would send to ``host`` to gather it with these arguments
    (in the current operation's context); the line is None when it needs more than a line (stdin,
    a pty, a password, exit codes other than 0)."""
    from pyinfra.api import StringCommand
    from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
    from pyinfra.connectors.util import make_unix_command_for_host

    facts = _facts_module()
    fact = cls()
    fact_kwargs, global_kwargs = facts._handle_fact_kwargs(state, host, cls, args, kwargs)
    if fact.shell_executable:
        global_kwargs["_shell_executable"] = fact.shell_executable
    executor = {k: v for k, v in global_kwargs.items() if k in CONNECTOR_ARGUMENT_KEYS}
    codes = executor.pop("_success_exit_codes", None)
    if any(executor.get(k) for k in _UNBATCHABLE) or (codes is not None and list(codes) != [0]):
        return fact, None
    for key in ("_stdin", "_get_pty", "_timeout"):
        executor.pop(key, None)
    command = facts._make_command(fact.command, fact_kwargs)
    requires = facts._make_command(fact.requires_command, fact_kwargs)
    if requires:  # as _get_fact guards it
        command = StringCommand("if", "command", "-v", requires, ">/dev/null", "2>&1;", "then", "(", command, ");",
                                "else", "echo", f"'{facts._MISSING_COMMAND_MARKER}';", "fi")
    return fact, str(make_unix_command_for_host(state, host, StringCommand(command), **executor).get_raw_value())


def missing_command_marker() -> str:
    """What a fact's command prints when the binary it requires is absent."""
    return str(_facts_module()._MISSING_COMMAND_MARKER)


def fact_value(fact: FactBase[Any], rc: int, stdout: str) -> Any:
    """The value pyinfra would make of ``fact`` (as ``fact_command`` gave it) from its command's
    exit code and output; MISS when only pyinfra's own handling of a failure would do (a non-zero
    exit, output it cannot process). Raises ``MissingCommandError`` as ``_get_fact`` does when the
    guarded binary is absent."""
    from pyinfra.api.exceptions import FactProcessError, MissingCommandError

    if rc != 0:
        return MISS
    lines = stdout.split("\n")
    if lines[-1] == "":
        lines.pop()  # the connector reads lines: a last newline ends the last one
    if lines == [missing_command_marker()]:
        raise MissingCommandError(type(fact).__name__)
    if not lines:
        return fact.default()
    try:
        return fact.process(lines)
    except FactProcessError:
        return MISS


@contextmanager
def answering_facts(hook: FactHook) -> Iterator[None]:
    """While inside, every fact pyinfra gathers (``host.get_fact``, short facts included) is first
    offered to ``hook`` with its shell line; MISS lets pyinfra gather it itself. A fact's
    preconditions are checked first, as pyinfra checks them."""
    from pyinfra.api.exceptions import FactPreconditionError

    facts = _facts_module()
    original = getattr(facts, FACT_PATCHED)

    def answering(state: State, host: Host, cls: type[FactBase[Any]], args: Any = None, kwargs: Any = None,
                  *rest: Any, **more: Any) -> Any:
        if reason := cls().check_preconditions(state, host):
            raise FactPreconditionError(cls, reason)
        value = hook(state, host, *fact_command(state, host, cls, args, kwargs))
        if value is not MISS:
            return value
        return original(state, host, cls, args, kwargs, *rest, **more)

    setattr(facts, FACT_PATCHED, answering)
    try:
        yield
    finally:
        setattr(facts, FACT_PATCHED, original)


def cache_global_arguments() -> None:
    """pyinfra lists its global arguments (``typing.get_type_hints`` of a TypedDict) afresh for
    every operation it prepares: an eighth of a no-op deploy's Python time. The list is the same
    each time: read once."""
    arguments = importlib.import_module("pyinfra.api.arguments")
    listed = getattr(arguments, ARGUMENTS_LISTED)
    if not hasattr(listed, "cache_info"):
        setattr(arguments, ARGUMENTS_LISTED, functools.cache(listed))


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
    if not callable(getattr(importlib.import_module("pyinfra.api.arguments"), ARGUMENTS_LISTED, None)):
        return [f"pyinfra.api.arguments.{ARGUMENTS_LISTED}: not there"]
    inventory = Inventory((["@local"], {}))
    state = State(check_for_changes=True)
    state.init(inventory, Config())
    host = inventory.get_host("@local")
    op_names: dict[str, dict[str, str]] = {}
    with recording_op_names(op_names):
        add_op(state, server.shell, commands=["true"], host=host, name="probe")
        add_op(state, server.shell, commands=["true"], host=host, name="after", _if=lambda: True)
    missing = [] if hasattr(host, "executing_op_hash") else ["pyinfra.api.host.Host.executing_op_hash: not there"]
    missing += _lacking(host, "pyinfra.api.host.Host", "op_hash_order") + _lacking(
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
    return problems + _missing_fact_internals(state, host)


def _missing_fact_internals(state: State, host: Host) -> list[str]:
    """What ``answering_facts`` needs of ``pyinfra.api.facts``, each named; a fact asked on ``host``
    (never gathered: the hook answers) must reach the hook with its line and come back as its value."""
    from pyinfra.facts.server import Command

    facts = _facts_module()
    needed = (FACT_PATCHED, "_handle_fact_kwargs", "_make_command", "_MISSING_COMMAND_MARKER")
    gone = [f"pyinfra.api.facts.{name}: not there" for name in needed if not hasattr(facts, name)]
    if gone:
        return gone
    seen: list[str | None] = []

    def hook(state: State, host: Host, fact: FactBase[Any], line: str | None) -> Any:
        seen.append(line)
        return fact_value(fact, 0, "probe\n")

    with answering_facts(hook):
        value = host.get_fact(Command, command="echo probe")
    if value != "probe" or len(seen) != 1 or "echo probe" not in (seen[0] or ""):
        return [f"pyinfra.api.facts.{FACT_PATCHED}: no longer how host.get_fact gathers a fact "
                f"(hook saw {seen}, returned {value!r})"]
    return []
