"""pyinfra deploys: one ``@deploy`` module per role (see ``deploys/roles.py``), the shared
helpers they use (templates, peers), and the runner behind ``egov deploy``.

A role reads only ``host.data`` (the inventory's layered variables that the pyinfra bridge
puts there), the inventory's groups (``role_<name>``) to find its peers, and the run's
``deploys.context.DeployContext`` (inventory and secrets, set once), so the same role runs
from ``egov deploy`` and from the plain ``pyinfra inventory/pyinfra.py deploys/site.py``.
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


def data(key: str) -> Any:
    """``host.data[key]``: the inventory's layered value, whose default is documented once in
    ``inventory/defaults/*.yml``. ``null`` is a value (None); a key no layer sets is a DeployError."""
    from pyinfra import host

    value = host.data.get(key, _UNSET)
    if value is _UNSET:
        raise DeployError(f"{host_name()}: no layer sets {key!r} (its default belongs in inventory/defaults/)")
    return value


_UNSET = object()


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


def host_name() -> str:
    """The inventory name of the host being deployed."""
    from pyinfra import host

    return str(host.data.get("egov_name") or host.name)


def secret(name: str) -> str:
    """The value of secret ``name`` in this run's deploy context (``deploys/context.py``)."""
    from deploys.context import deploy_context

    return deploy_context().secret(name)
