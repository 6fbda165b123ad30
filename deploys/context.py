"""The deploy context: the one thing a role reads besides ``host.data``.

A run's inventory and secrets, set once per process before any role runs: by the runner's
pyinfra child (``deploys/pyinfra_process.py``) and, for the plain pyinfra CLI, by ``deploys/site.py``
from the inventory named in host data. A role asks ``deploy_context()``; asking before it is
set is an error, never a guess at which inventory is meant.

Secrets: values come from egov.secrets (environment, then the --secrets file). In a lab
inventory a missing value is generated once into the lab state directory
(``deploy-secrets.yml``, 0600), so a fresh lab needs no hand-made secrets; production never
generates: a missing secret is an error naming where to put it.
"""

from __future__ import annotations

import atexit
import secrets as pysecrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from egov.connection import lab_state_dir
from egov.errors import DeployError, SecretsError
from egov.secrets import Secrets, add_generated

if TYPE_CHECKING:
    from inventory.model import Inventory

LAB_SECRETS_FILE = "deploy-secrets.yml"
# the run id of a process whose context names none (the plain pyinfra CLI)
_process_run_id: str = pysecrets.token_hex(6)


@dataclass(frozen=True)
class DeployContext:
    """What every role of one run shares.

    + inventory: the egov inventory the run's hosts come from (its NOC networks, plan, peers)
    + secrets: the run's secrets (environment, then the --secrets file)
    + lab_secrets_file: where a lab keeps the secrets it generated; None in production
    + run_id: this run's id (the runner's, else one made here): it names the side files that
      ``checked_file`` writes on hosts, so two runs never share one
    """

    inventory: Inventory
    secrets: Secrets
    lab_secrets_file: Path | None
    run_id: str = field(default_factory=lambda: _process_run_id)
    _work: list[Path] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def of(cls, inv: Inventory, secrets: Secrets, run_id: str | None = None) -> DeployContext:
        """The context of ``inv``: a lab inventory generates missing secrets into its state directory."""
        lab_file = lab_state_dir(inv.path) / LAB_SECRETS_FILE if inv.environment == "lab" else None
        return cls(inv, secrets, lab_file, run_id) if run_id else cls(inv, secrets, lab_file)

    def work_dir(self) -> Path:
        """This process's own scratch directory on the control machine (0700, made on first use,
        removed at exit): where the release artifact is built, out of other local users' reach."""
        if not self._work:
            path = Path(tempfile.mkdtemp(prefix=f"egov-deploy-{self.run_id}-"))
            atexit.register(shutil.rmtree, path, True)
            self._work.append(path)
        return self._work[0]

    def secret(self, name: str) -> str:
        """The value of secret ``name`` (remembered for redaction); see the module docstring."""
        value = self.secrets.get(name, required=False)
        if value is not None:
            return str(value)
        if self.lab_secrets_file is None:
            self.secrets.get(name)  # raises the SecretsError that says where to set it
            raise SecretsError(f"secret '{name}' is not set")
        return add_generated(self.lab_secrets_file, [name])[name]


_current: DeployContext | None = None  # set once per process by set_context


def run_id() -> str:
    """This run's id: the context's, else this process's own."""
    return _current.run_id if _current is not None else _process_run_id


def set_context(context: DeployContext) -> None:
    """Make ``context`` the one every role of this process reads."""
    global _current
    _current = context


def has_context() -> bool:
    return _current is not None


def deploy_context() -> DeployContext:
    """The context ``set_context`` set; a DeployError before it is set."""
    if _current is None:
        raise DeployError("no deploy context: the runner (or deploys/site.py) sets it before any role runs")
    return _current
