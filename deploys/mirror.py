"""``mirror``: the DC package mirror, an apt-cacher-ng every host's apt goes through (``base``).

apt-cacher-ng listens on the loopback only; nginx terminates TLS in front of it with the host
certificate, so no host's apt and no local node's squid fetches a package across the WAN in clear
(``PACKAGE_MIRROR_TLS_PORT``). Its site is checked by ``nginx -t`` before nginx reloads on it.

Data: ``mirror__upstream_proxy`` (``inventory/defaults/services.yml``).
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, systemd

from deploys import data, render
from deploys.context import deploy_context
from deploys.ops.config import checked_file
from deploys.web import nginx
from inventory.services import HOST_CERT, HOST_KEY, PACKAGE_CACHE_PORT, PACKAGE_MIRROR_TLS_PORT

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
    nginx()
    checked_file(name="nginx: TLS in front of the package mirror", path="/etc/nginx/sites-enabled/egov-mirror.conf",
                 content=render("mirror", "mirror-tls.conf.j2", port=PACKAGE_MIRROR_TLS_PORT,
                                cache_port=PACKAGE_CACHE_PORT, cert=HOST_CERT, key=HOST_KEY),
                 check="nginx -t -q", reload="systemctl reload-or-restart nginx")
    systemd.service(name="nginx running", service="nginx", running=True, enabled=True)
