"""The role registry: where each role's deploy lives.

``ROLES`` maps a role name to ``"module:function"``. Which roles exist, their order, the ones every
host gets and what they listen on are the services table's (``inventory/services.py``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from egov.errors import DeployError

ROLES: dict[str, str] = {
    "base": "deploys.base:apply",
    # data-centre infrastructure
    "mirror": "deploys.mirror:apply",
    "dns": "deploys.dns:apply",
    "ntp": "deploys.ntp:apply",
    "db": "deploys.db:apply",
    "directory": "deploys.directory:apply",
    "lb": "deploys.lb:apply",
    "web": "deploys.web:apply",
    "mail": "deploys.mail:apply",
    "backup": "deploys.backup:apply",
    "log": "deploys.log:apply",
    "bastion": "deploys.bastion:apply",
    "monitoring": "deploys.monitoring:apply",
    "exporters": "deploys.exporters:apply",
    "backup_source": "deploys.backup:source",
    # core shared applications: one module, the app is chosen from the role name
    "app_docmgmt": "deploys.apps:apply",
    "app_onestop": "deploys.apps:apply",
    "app_portal": "deploys.apps:apply",
    "app_specdb": "deploys.apps:apply",
    # district level
    "local_node": "deploys.local_node:apply",
}


def resolve(role: str) -> Callable[..., Any]:
    """The deploy function of ``role``; a DeployError naming the role when it is unknown or absent."""
    try:
        target = ROLES[role]
    except KeyError:
        raise DeployError(f"unknown role '{role}' (known: {', '.join(sorted(ROLES))})") from None
    module_name, _, func = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise DeployError(f"role '{role}': its deploy {module_name} is not written yet") from None
        raise
    return getattr(module, func)

