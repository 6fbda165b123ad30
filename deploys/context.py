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

import os
import secrets as pysecrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from egov.connection import lab_state_dir
from egov.errors import DeployError, SecretsError
from egov.secrets import Secrets, remember

if TYPE_CHECKING:
    from inventory.model import Inventory

LAB_SECRETS_FILE = "deploy-secrets.yml"


@dataclass(frozen=True)
class DeployContext:
    """What every role of one run shares.

    + inventory: the egov inventory the run's hosts come from (its NOC networks, plan, peers)
    + secrets: the run's secrets (environment, then the --secrets file)
    + lab_secrets_file: where a lab keeps the secrets it generated; None in production
    """

    inventory: Inventory
    secrets: Secrets
    lab_secrets_file: Path | None

    @classmethod
    def of(cls, inv: Inventory, secrets: Secrets) -> DeployContext:
        """The context of ``inv``: a lab inventory generates missing secrets into its state directory."""
        lab_file = lab_state_dir(inv.path) / LAB_SECRETS_FILE if inv.environment == "lab" else None
        return cls(inv, secrets, lab_file)

    def secret(self, name: str) -> str:
        """The value of secret ``name`` (remembered for redaction); see the module docstring."""
        value = self.secrets.get(name, required=False)
        if value is not None:
            return str(value)
        if self.lab_secrets_file is None:
            self.secrets.get(name)  # raises the SecretsError that says where to set it
            raise SecretsError(f"secret '{name}' is not set")
        stored: dict[str, str] = {}
        if self.lab_secrets_file.exists():
            stored = yaml.safe_load(self.lab_secrets_file.read_text()) or {}
        if name not in stored:
            stored[name] = pysecrets.token_urlsafe(24)
            self.lab_secrets_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lab_secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                yaml.safe_dump(stored, f)
        remember(stored[name])
        return stored[name]


_current: DeployContext | None = None  # set once per process by set_context


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
