"""The role registry: every role an inventory may name, and where its deploy lives.

``ROLES`` maps a role name to ``"module:function"``; the inventory validator rejects any role not
in it. ``PORTS`` lists what each role serves, so ``base`` opens exactly those ports in the
host's default-drop firewall (SSH is opened separately, from management networks only).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

from deploys.applications import APPS
from egov.errors import DeployError

ROLES: dict[str, str] = {
    "base": "deploys.base:apply",
    # data-centre infrastructure
    "mirror": "deploys.mirror:apply",
    "dns": "deploys.dns:apply",
    "ntp": "deploys.ntp:apply",
    "db": "deploys.db:apply",
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
    "district_node": "deploys.district_node:apply",
}

# Roles every host gets, before its own roles, in this order.
EVERY_HOST = ("base", "exporters", "backup_source")

# The order roles are applied in on one host, whatever order the inventory lists them in:
# services others depend on first; web before lb, because nginx's package starts on port 80
# until the web role reconfigures it, and HAProxy owns port 80 on hosts that carry both.
ORDER = ("base", "exporters", "backup_source", "mirror", "ntp", "dns", "log", "db", "web", "lb", "mail", "backup", "bastion",
         "app_docmgmt", "app_onestop", "app_portal", "app_specdb", "district_node", "monitoring")

# What each role serves: "tcp/53", "udp/123", "vrrp" (IP protocol 112). The core applications'
# ports are open too: the web role on the other DC host proxies to them, monitoring probes them.
PORTS: dict[str, tuple[str, ...]] = {
    "mirror": ("tcp/3142",),
    "dns": ("tcp/53", "udp/53"),
    "ntp": ("udp/123",),
    "db": ("tcp/5432",),
    "lb": ("tcp/80", "tcp/443", "vrrp"),
    "web": ("tcp/80", "tcp/443", "tcp/8443"),
    "mail": ("tcp/25", "tcp/587", "tcp/993"),
    "log": ("tcp/514", "udp/514"),
    "monitoring": ("tcp/9090", "tcp/9093", "tcp/9115"),
    "exporters": ("tcp/9100", "tcp/9187", "tcp/9200"),
    "district_node": ("tcp/53", "udp/53", "tcp/3128", "tcp/80", "tcp/443"),
    **{role: (f"tcp/{app.port}",) for role, app in APPS.items()},
}


def roles_of(host_roles: Iterable[str]) -> list[str]:
    """The roles to apply on a host: ``EVERY_HOST`` and its own, once each, in ``ORDER``."""
    wanted = {*EVERY_HOST, *host_roles}
    return [r for r in ORDER if r in wanted] + sorted(wanted - set(ORDER))


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


def firewall_ports(host_roles: Iterable[str]) -> list[str]:
    """Sorted, unique ports every role of a host serves."""
    return sorted({p for role in roles_of(host_roles) for p in PORTS.get(role, ())})
