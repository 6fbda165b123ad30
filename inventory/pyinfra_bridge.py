"""The inventory as pyinfra sees it: groups of (host name, host data).

Used by ``inventory/pyinfra.py`` (the plain ``pyinfra`` CLI) and by the ``egov deploy`` runner
(pyinfra's API), so both connect and deploy with exactly the same data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from egov.connection import connection_for
from inventory.model import Host, Inventory

HostEntry = tuple[str, dict[str, Any]]
Groups = dict[str, tuple[list[HostEntry], dict[str, Any]]]


def host_data(inv: Inventory, host: Host) -> dict[str, Any]:
    """A host's pyinfra data: its resolved layered variables, who it is, and how to reach it (strict host keys)."""
    conn = connection_for(inv.path, inv.environment)
    site = inv.sites[host.site]
    return {
        **host.vars,
        "egov_name": host.name,
        "egov_site": host.site,
        "egov_level": site.level,
        "egov_roles": list(host.roles),
        "egov_mgmt_ip": str(host.mgmt_ip),
        "egov_server_ip": str(host.server_ip) if host.server_ip else None,
        "egov_domain": inv.province.domain,
        "egov_inventory": str(inv.path),
        "ssh_hostname": str(host.mgmt_ip),
        "ssh_user": conn.host_user,
        "ssh_key": str(conn.key_path),
        "ssh_known_hosts_file": str(conn.known_hosts),
        "ssh_strict_host_key_checking": "yes",
    }


def pyinfra_groups(inv: Inventory, hosts: Iterable[Host] | None = None) -> Groups:
    """Groups ``role_<role>``, ``site_<site>`` and ``level_<level>`` of ``hosts`` (default: every host),
    each as pyinfra wants it: ``(list of (name, data), group data)``. Routers are not pyinfra targets."""
    groups: dict[str, list[HostEntry]] = {}
    for host in inv.hosts.values() if hosts is None else hosts:
        entry = (host.name, host_data(inv, host))
        names = [f"role_{role}" for role in host.roles]
        names += [f"site_{host.site}", f"level_{inv.sites[host.site].level}"]
        for name in names:
            groups.setdefault(name, []).append(entry)
    return {name: (entries, {}) for name, entries in groups.items()}
