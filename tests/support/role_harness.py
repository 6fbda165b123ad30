"""Run a role's ``apply()`` against a recorded fact set and list the operations it yields.

Facts in, operations out, as pyinfra tests its own operations (``tests/operations/<op>/*.json``
in pyinfra's repository: ``"files.File": {"path=/etc/x": {...}}``), but for a whole role: a real
pyinfra ``State`` and ``Inventory`` built from the egov bridge on ``inventory/lab.yml``, the role
prepared for one host as ``deploys/runner.py`` prepares it (``add_deploy``, ``check_for_changes``),
and every fact the role or a stock operation asks answered from the case's data. Nothing connects
over SSH: the one hook is ``get_fact``, the function every ``host.get_fact`` goes through.

A case file (``tests/fixtures/roles/<role>/<case>.yml``)::

    host: dc-app1                         # the inventory host the role runs on
    roles: [app_docmgmt, app_portal]      # optional: roles that yield the same (default: the directory's name)
    facts:                                # fact "<module>.<Class>" -> value, or -> {"arg=value, ...": value}
      deb.DebPackages: {}
      files.File:
        path=/etc/unbound/unbound.conf.d/egov.conf: null
      files.Sha1File:
        path=/opt/egov-exporter/egov/errors.py: {sha1_of: egov/errors.py}   # the host holds the repo's file
        path=/etc/ssl/egov/web.crt: {sha1_of_pki: web.crt}   # ... or a file of the run's lab CA (ca.crt: the CA)
    operations:                           # in order: the name pyinfra gives it, and its commands
      - name: DNS | unbound
        commands:
          - DEBIAN_FRONTEND=noninteractive apt-get -y ... install unbound
          - upload: /etc/unbound/unbound.conf.d/egov.conf.egov-new
            sha1: 0123...                 # the whole content, and/or
            lines: [server:]              # lines it must hold (leading and trailing blanks aside)
          - upload: /opt/egov-exporter/egov/errors.py
            src: egov/errors.py           # a repository file, shipped as it is

A fact the case does not give fails the run with its name and arguments, so each case says
everything the role looks at. Secret values in commands are masked (``egov.secrets.redact``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from inspect import getcallargs
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import yaml

from deploys.ops.config import PENDING_DIR

if TYPE_CHECKING:
    from inventory import Inventory

REPO = Path(__file__).resolve().parents[2]
LAB_INVENTORY = REPO / "inventory" / "lab.yml"
CASES = REPO / "tests" / "fixtures" / "roles"

# Fixed values for every secret a role reads: test values, never real ones.
TEST_SECRETS = {
    "backup_ssh_seed": "test-backup-seed",
    "db_backup_password": "test-db-backup",
    "db_replication_password": "test-db-replication",
    "db_docmgmt_password": "test-db-docmgmt",
    "db_onestop_password": "test-db-onestop",
    "db_portal_password": "test-db-portal",
    "db_specdb_password": "test-db-specdb",
    "mailbox_noc_password": "test-mailbox-noc",
    "monitoring_scrape_password": "test-monitoring-scrape",
    "monitoring_oncall_password": "test-monitoring-oncall",
}
# The run id every case runs under: it names checked_file's side directory (``.egov-<run id>``).
TEST_RUN_ID = "test"
# The deploy key's public half, which base installs for the admins (``<ssh_key>.pub``).
TEST_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEgovTestKeyNotARealKeyJustForTheRoleTests0 egov-test"
# The control machine's recorded host keys, which the backup host is given for its sources (the
# district nodes have none recorded: the backup host leaves them out).
TEST_KNOWN_HOSTS = "".join(
    f"{address} ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYTestHostKey{n}\n"
    for n, address in enumerate(["10.22.146.10", "10.22.146.11", "10.22.146.12", "10.22.146.13"]))


class MissingFact(AssertionError):
    """The role asked a fact the case does not give."""


@dataclass
class Operation:
    """One operation the role yields for the host: pyinfra's name for it and its commands.

    + commands: shell commands as strings (secrets masked); an upload as
      ``{"upload": dest, "sha1": hex}`` (``text`` holds the content, for line checks; ``src`` the
      repository file it ships, if it is one)
    """

    name: str
    commands: list[Any] = field(default_factory=list)


@contextmanager
def deploy_context(workdir: Path, inventory: Path = LAB_INVENTORY) -> Iterator[Inventory]:
    """The inventory and secrets a role reads, set up once for a run: a lab state directory under
    ``workdir`` with a dummy key, its public half and known_hosts (``$EGOV_LAB_DIR``, read by
    ``egov.connection``), a 0600 secrets file of ``TEST_SECRETS``, and the deploy context of them
    (``deploys.context``, restored afterwards). Yields the inventory.

    The caller's own ``EGOV_*`` variables (``EGOV_SECRET_<NAME>``, ``EGOV_LAB_NAME``...) are
    hidden meanwhile, so a developer's environment never changes what a case yields."""
    from deploys import context
    from egov.secrets import Secrets
    from inventory import load_inventory

    state_dir = workdir / "lab"
    state_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    (state_dir / "id_ed25519").write_text("dummy private key: never used, nothing connects\n")
    (state_dir / "id_ed25519.pub").write_text(TEST_PUBLIC_KEY + "\n")
    (state_dir / "known_hosts").write_text(TEST_KNOWN_HOSTS)
    secrets_file = workdir / "secrets.yml"
    fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(TEST_SECRETS, f)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EGOV_")}
    env.update(EGOV_LAB_DIR=str(workdir), EGOV_PKI_DIR=str(workdir / "pki"))
    with mock.patch.dict(os.environ, env, clear=True):
        inv = load_inventory(inventory)
        before = context._current
        context.set_context(context.DeployContext.of(inv, Secrets(secrets_file), run_id=TEST_RUN_ID))
        try:
            yield inv
        finally:
            context._current = before


def fact_key(cls: type, args: Any, kwargs: Any) -> tuple[str, str]:
    """``("files.File", "path=/etc/x")``: a fact's name and its arguments as pyinfra's own test
    data spell them (every argument of the fact's ``command``, defaults included, sorted)."""
    from pyinfra.api.util import get_kwargs_str

    name = f"{cls.__module__.split('.')[-1]}.{cls.__name__}"
    given = {k: v for k, v in (kwargs or {}).items() if not k.startswith("_")}  # pyinfra's global arguments
    if not args and not given:
        return name, ""
    return name, get_kwargs_str(getcallargs(cls().command, *(args or ()), **given))


class RecordedFacts:
    """Answers ``get_fact`` from a case's ``facts`` mapping, and remembers what was asked."""

    def __init__(self, facts: dict[str, Any], case: str) -> None:
        self.facts = facts
        self.case = case
        self.asked: list[tuple[str, str]] = []

    def __call__(self, state: Any, host: Any, cls: type, args: Any = None, kwargs: Any = None, **_: Any) -> Any:
        name, arguments = fact_key(cls, args, kwargs)
        if arguments.startswith(f"path={PENDING_DIR}/") and arguments not in (self.facts.get(name) or {}):
            return None  # checked_file's pending-reload marker: absent unless a case says otherwise
        self.asked.append((name, arguments))
        if name not in self.facts:
            raise MissingFact(f"{self.case}: the role asks fact {name}({arguments}), which the case does not give")
        value = self.facts[name]
        if arguments:
            if not isinstance(value, dict) or arguments not in value:
                raise MissingFact(f"{self.case}: the role asks fact {name} with '{arguments}', "
                                  f"which the case does not give")
            value = value[arguments]
        if isinstance(value, dict) and set(value) == {"sha1_of"}:
            # a shipped repository file already in place: its checksum follows the repo, not the case
            return hashlib.sha1((REPO / value["sha1_of"]).read_bytes()).hexdigest()
        if isinstance(value, dict) and set(value) == {"sha1_of_pki"}:
            # a file of this run's lab CA (its certificate, or one it issued) on the host: the CA is new every run
            return hashlib.sha1((Path(os.environ["EGOV_PKI_DIR"]) / value["sha1_of_pki"]).read_bytes()).hexdigest()
        return _typed(value, cls)

    def unused(self) -> list[str]:
        """The facts the case gives that the role never asked: stale data."""
        asked = set(self.asked)
        given = [(name, args) for name, value in self.facts.items()
                 for args in (value if isinstance(value, dict) and _has_arguments(value) else [""])]
        return [f"{name}({args})" for name, args in given if (name, args) not in asked]


def _has_arguments(value: dict[str, Any]) -> bool:
    # a fact's value may be a mapping itself (DebPackages): keys of arguments hold a "="
    return bool(value) and all("=" in str(key) for key in value)


def _typed(value: Any, cls: type) -> Any:
    # YAML has no sets or tuples: a fact whose empty value is a set gets a set of tuples
    default = getattr(cls(), "default", lambda: None)()  # a ShortFactBase has none
    if isinstance(default, set) and isinstance(value, list):
        return {tuple(v) if isinstance(v, list) else v for v in value}
    return value


def _command(command: Any) -> Any:
    from pyinfra.api.command import FileUploadCommand, FunctionCommand, StringCommand

    from egov.secrets import redact

    if isinstance(command, StringCommand):
        return redact(command.get_raw_value())
    if isinstance(command, FileUploadCommand):
        if not isinstance(command.src, str):
            command.src.seek(0)
            raw = command.src.read()
            content = raw.encode() if isinstance(raw, str) else raw
        else:
            source = Path(command.src).resolve()
            content = source.read_bytes()
            if source.is_relative_to(REPO):  # a file of the repository, shipped as it is
                return {"upload": command.dest, "src": str(source.relative_to(REPO)),
                        "sha1": hashlib.sha1(content).hexdigest(), "text": content.decode(errors="replace")}
        return {"upload": command.dest, "sha1": hashlib.sha1(content).hexdigest(),
                "text": content.decode(errors="replace")}
    if isinstance(command, FunctionCommand):
        return {"function": getattr(command.function, "__name__", str(command.function))}
    return repr(command)


@dataclass
class RoleRun:
    """What a role yielded for a host (``operations``, in order) and the facts it did not ask."""

    operations: list[Operation]
    unused_facts: list[str]


def run_role(inv: Inventory, role: str, host_name: str, facts: dict[str, Any], case: str = "") -> RoleRun:
    """Prepare ``role`` for ``host_name`` of ``inv`` against ``facts`` and list its operations in order.

    Then a dry execution, without a connection: each operation in turn is taken as done once
    its commands are listed, so a later operation's ``_if`` sees whether its parent would change,
    and an operation whose condition is false lists no commands, as pyinfra would skip it.
    """
    from pyinfra.api import host as pyinfra_host
    from pyinfra.api.config import Config
    from pyinfra.api.deploy import add_deploy
    from pyinfra.api.inventory import Inventory
    from pyinfra.api.state import State
    from pyinfra.connectors.util import CommandOutput
    from pyinfra.context import ctx_config, ctx_host, ctx_inventory, ctx_state

    from deploys.roles import resolve
    from inventory.pyinfra_bridge import pyinfra_groups

    groups = pyinfra_groups(inv)
    members = {name: data for entries, _ in groups.values() for name, data in entries}
    inventory = Inventory((list(members.items()), {}), **groups)
    # TEMP_DIR: pyinfra's temporary file names would otherwise come from a fact of its own
    config = Config(TEMP_DIR="/tmp", FAIL_PERCENT=None)
    state = State(check_for_changes=True)
    state.init(inventory, config)
    target = next(h for h in inventory if (h.data.get("egov_name") or h.name) == host_name)
    recorded = RecordedFacts(facts, case or f"{role} on {host_name}")
    ops: list[Operation] = []
    # the timestamp pyinfra's line edits name their backup files with, fixed as its own tests fix
    # it, and the order files.sync walks a directory in
    with mock.patch.object(pyinfra_host, "get_fact", recorded), \
            mock.patch("pyinfra.operations.util.files.get_timestamp", lambda: "a-timestamp"), \
            mock.patch("pyinfra.operations.files.get_timestamp", lambda: "a-timestamp"), \
            mock.patch("pyinfra.operations.files.os.walk", _sorted_walk), \
            ctx_state.use(state), ctx_inventory.use(inventory), ctx_config.use(config.copy()):
        add_deploy(state, resolve(role), host=target)
        state.is_executing = True
        with ctx_host.use(target):
            for op_hash in target.op_hash_order:
                op_data = state.ops[target][op_hash]
                commands = [_command(c) for c in op_data.command_generator()]
                op_data.operation_meta.set_complete(True, commands, CommandOutput([]))
                ops.append(Operation(", ".join(sorted(state.op_meta[op_hash].names)), commands))
    return RoleRun(ops, recorded.unused())


def _sorted_walk(top: Any, *args: Any, **kwargs: Any) -> Iterator[tuple[str, list[str], list[str]]]:
    # ``os.walk`` in the file system's order, which is not the same on every machine (ext4
    # hashes names): sorted, so ``files.sync`` lists its uploads in one order, as pyinfra's own
    # tests fix it with a listing of their own. The lists are sorted in place: the caller prunes them.
    for dirpath, dirnames, filenames in _os_walk(top, *args, **kwargs):
        dirnames.sort()
        filenames.sort()
        yield dirpath, dirnames, filenames


_os_walk = os.walk


def load_case(path: Path) -> dict[str, Any]:
    """A case file, with its roles (default: the directory's name) and its name."""
    case: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    case.setdefault("facts", {})
    case.setdefault("roles", [path.parent.name])
    case["case"] = f"{path.parent.name}/{path.stem}"
    return case


def case_files() -> list[Path]:
    return sorted(CASES.glob("*/*.yml"))


def command_matches(expected: Any, actual: Any) -> bool:
    """A string equals; an upload matches its destination and what the case says of its content:
    ``sha1``, ``lines``, or ``src`` (the repository file it ships), at least one."""
    if isinstance(expected, dict) and "upload" in expected and isinstance(actual, dict):
        if expected["upload"] != actual.get("upload") or not ({"sha1", "lines", "src"} & set(expected)):
            return False
        lines = {line.strip() for line in actual["text"].splitlines()}
        return all(expected.get(key, actual.get(key)) == actual.get(key) for key in ("sha1", "src")) and \
            all(line.strip() in lines for line in expected.get("lines", []))
    return bool(expected == actual)


def first_difference(expected: list[dict[str, Any]], actual: list[Operation]) -> str | None:
    """A description of the first operation that differs, or None when all match."""
    for i in range(max(len(expected), len(actual))):
        want = expected[i] if i < len(expected) else None
        got = actual[i] if i < len(actual) else None
        if want is None or got is None:
            return f"operation {i}: expected {_show(want)}\n  got {_show(got)}"
        commands = want.get("commands") or []
        if want["name"] != got.name or len(commands) != len(got.commands) or not all(
                command_matches(e, a) for e, a in zip(commands, got.commands, strict=True)):
            return f"operation {i}: expected {_show(want)}\n  got {_show(got)}"
    return None


def _show(op: dict[str, Any] | Operation | None) -> str:
    if op is None:
        return "nothing more"
    if isinstance(op, Operation):  # the content is left out: its sha1 and the lines asked say enough
        op = {"name": op.name, "commands": [{k: v for k, v in c.items() if k != "text"} if isinstance(c, dict) else c
                                            for c in op.commands]}
    return str(yaml.safe_dump(op, sort_keys=False, allow_unicode=True, width=200))
