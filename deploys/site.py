"""The deploy file for the plain pyinfra CLI: base, then every role of each host.

    pyinfra inventory/pyinfra.py deploys/site.py            # everything
    pyinfra inventory/pyinfra.py deploys/site.py --limit role_mirror   # the mirror first, on a bare lab

``egov deploy`` runs the same ``apply_host`` through the pyinfra API (``deploys/runner.py``).
"""

from __future__ import annotations


def apply_host(only: tuple[str, ...] | None = None) -> None:
    """Apply base and the host's roles (from ``host.data.egov_roles``) via the registry.

    + only: apply just these of the host's roles (the runner's first stage: base and mirror)
    """
    from pyinfra import host

    from deploys.roles import resolve, roles_of

    for role in roles_of(host.data.get("egov_roles") or []):
        if only is None or role in only:
            resolve(role)()


if __name__ in ("__main__", "builtins") or __name__.startswith("pyinfra"):
    # pyinfra's CLI executes deploy files; importing this module elsewhere applies nothing
    apply_host()
