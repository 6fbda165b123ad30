"""``mirror``: the DC package mirror, an apt-cacher-ng every host's apt goes through (``base``).

Data: ``mirror__upstream_proxy`` (``inventory/defaults/services.yml``).
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, systemd

from deploys import data, render
from deploys.context import deploy_context
from deploys.ops.config import checked_file
from inventory.services import PACKAGE_CACHE_PORT

PACKAGES = ["apt-cacher-ng"]


def upstream_proxy(key: str) -> str:
    """The upstream proxy ``key`` sets; null derives it: the lab's control machine proxy (the lab's
    only way to Debian), ``""`` (straight to Debian) outside a lab."""
    value = data(key)
    if value is not None:
        return str(value)
    inv = deploy_context().inventory
    return f"http://{inv.plan.control_ip}:{PACKAGE_CACHE_PORT}" if inv.environment == "lab" else ""


@deploy("Package mirror")
def apply() -> None:
    apt.packages(name="apt-cacher-ng", packages=PACKAGES)
    checked_file(name="apt-cacher-ng: upstream", path="/etc/apt-cacher-ng/zz-egov.conf",
                 content=render("mirror", "acng.conf.j2", port=PACKAGE_CACHE_PORT,
                                upstream=upstream_proxy("mirror__upstream_proxy")),
                 reload="systemctl restart apt-cacher-ng")
    systemd.service(name="apt-cacher-ng running", service="apt-cacher-ng", running=True, enabled=True)
