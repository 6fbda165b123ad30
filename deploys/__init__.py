"""pyinfra deploys: one ``@deploy`` module per role (see ``deploys/roles.py``), the shared
helpers they use (templates, peers), and the runner behind ``egov deploy``.

A role reads only ``host.data`` (the inventory's layered variables that the pyinfra bridge
puts there) and the inventory's groups (``role_<name>``) to find its peers, so the same role
runs from ``egov deploy`` and from the plain ``pyinfra inventory/pyinfra.py deploys/site.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from egov import templating
from egov.errors import DeployError

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "deploys"

def render(role: str, name: str, **context: Any) -> str:
    """Render ``templates/deploys/<role>/<name>`` with ``context``; errors name file and line."""
    return templating.render(TEMPLATES, f"{role}/{name}", context, DeployError, f"role {role}")


def data(key: str, default: Any) -> Any:
    """``host.data[key]``, else the role's documented default (which the inventory overrides)."""
    from pyinfra import host

    value = host.data.get(key)
    return default if value is None else value


def peers(role: str, network: str = "mgmt") -> list[tuple[str, str]]:
    """``(egov_name, address)`` of every inventory host with ``role``, in inventory order.

    + network: ``mgmt`` (service traffic in the lab goes over the flat management network, which
      every host reaches without the WAN routers) or ``server`` (the host's server-LAN address,
      where the load balancer's VIP and its backends live; mgmt when a host has none)

    Reads the full pyinfra inventory (the bridge's ``role_<name>`` group), so a run limited to
    one district still knows the data centre's DNS, NTP, log and mirror hosts.
    """
    from pyinfra import state

    out = []
    for h in state.inventory.get_group(f"role_{role}", default=[]):
        mgmt = h.data.get("egov_mgmt_ip") or h.data.get("ssh_hostname")
        address = (h.data.get("egov_server_ip") or mgmt) if network == "server" else mgmt
        out.append((str(h.data.get("egov_name") or h.name), str(address)))
    return out


def model() -> Any:
    """The egov inventory the host comes from (``host.data.egov_inventory``), loaded once per run.

    For facts the bridge does not put in host data: the NOC networks and the lab's control address.
    """
    from pyinfra import host

    from inventory import load_inventory

    path = str(host.data.get("egov_inventory") or "inventory/lab.yml")
    if path not in _models:
        _models[path] = load_inventory(path)
    return _models[path]


_models: dict[str, Any] = {}


def me() -> str:
    """This host's inventory name."""
    from pyinfra import host

    return str(host.data.get("egov_name") or host.name)


# --- secrets -----------------------------------------------------------------------------------
# Roles ask ``secret(name)``. Values come from egov.secrets (environment, then the --secrets
# file). In a lab inventory a missing value is generated once into the lab state directory
# (``deploy-secrets.yml``, 0600), so a fresh lab needs no hand-made secrets; production never
# generates: a missing secret is an error naming where to put it.

_active: dict[str, Any] = {}


def use_secrets(inv: Any, secrets: Any) -> None:
    """Make ``secret()`` read ``secrets`` (an egov.secrets.Secrets) for inventory ``inv``."""
    from egov.connection import lab_state_dir

    _active["secrets"] = secrets
    _active["lab_file"] = lab_state_dir(inv.path) / "deploy-secrets.yml" if inv.environment == "lab" else None


def _activate_default() -> None:
    """The plain pyinfra CLI: the host's inventory, secrets from the environment ($EGOV_SECRETS_FILE)."""
    from egov.secrets import Secrets

    use_secrets(model(), Secrets())


def secret(name: str) -> str:
    """The value of secret ``name`` (remembered for redaction); see the section comment above."""
    import os
    import secrets as pysecrets

    import yaml

    from egov.errors import SecretsError
    from egov.secrets import remember

    if "secrets" not in _active:
        _activate_default()
    value = _active["secrets"].get(name, required=False)
    if value is not None:
        return str(value)
    lab_file: Path | None = _active["lab_file"]
    if lab_file is None:
        _active["secrets"].get(name)  # raises the SecretsError that says where to set it
        raise SecretsError(f"secret '{name}' is not set")
    stored: dict[str, str] = {}
    if lab_file.exists():
        stored = yaml.safe_load(lab_file.read_text()) or {}
    if name not in stored:
        stored[name] = pysecrets.token_urlsafe(24)
        lab_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lab_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(stored, f)
    remember(stored[name])
    return stored[name]
