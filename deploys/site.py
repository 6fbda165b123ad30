"""The deploy file for the plain pyinfra CLI: base, then every role of each host.

    pyinfra inventory/pyinfra.py deploys/site.py            # everything
    pyinfra inventory/pyinfra.py deploys/site.py --limit role_mirror   # the mirror first, on a bare lab

``egov deploy`` runs the same ``apply_host`` through the pyinfra API (``deploys/pyinfra_stage.py``).
Here the deploy context is the inventory each host's data names (``egov_inventory``, which
``inventory/pyinfra.py`` sets), with secrets from the environment (``$EGOV_SECRETS_FILE``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from egov.errors import DeployError

if TYPE_CHECKING:
    from pyinfra.api import Host


def use_host_inventory() -> None:
    """Set the deploy context from ``host.data.egov_inventory`` (loaded once per process).

    A host without it is an error: guessing an inventory could configure production from the lab's.
    """
    from pyinfra import host

    from deploys.context import DeployContext, deploy_context, has_context, set_context
    from egov.secrets import Secrets
    from inventory import load_inventory

    path = host.data.get("egov_inventory")
    if not path:
        raise DeployError(f"{host.name}: host data has no egov_inventory: use the pyinfra inventory "
                          "inventory/pyinfra.py, which names the egov inventory of every host")
    if not has_context() or str(deploy_context().inventory.path) != str(path):
        set_context(DeployContext.of(load_inventory(path), Secrets()))


def applied_roles(host: Host, only: tuple[str, ...] | None) -> list[str]:
    """The roles ``apply_host`` applies on ``host``: its own (every-host roles included), ``only`` these."""
    from inventory.services import roles_of

    return [role for role in roles_of(host.data.get("egov_roles") or []) if only is None or role in only]


def apply_host(only: tuple[str, ...] | None = None) -> None:
    """Apply base and the host's roles (from ``host.data.egov_roles``) via the registry.

    + only: apply just these of the host's roles (the runner's first stage: base and mirror)
    """
    from pyinfra import host

    from deploys.roles import resolve

    applied = applied_roles(host, only)
    # base installs the packages of the roles applied with it (deploys/packages.py)
    host.data.egov_step_roles = applied
    # several roles share one deploy (the app_* roles: deploys.apps.apply deploys them all): call it once
    deploys = [resolve(role) for role in applied]
    for deploy in dict.fromkeys(deploys):
        deploy()


if __name__ in ("__main__", "builtins") or __name__.startswith("pyinfra"):
    # pyinfra's CLI executes deploy files; importing this module elsewhere applies nothing
    use_host_inventory()
    apply_host()
