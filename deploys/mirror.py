"""``mirror``: the DC package mirror, an apt-cacher-ng every host's apt goes through (``base``).

Data: ``mirror__upstream_proxy``: the proxy it fetches through (default: in a lab, the control
machine's apt-cacher-ng, the lab's only way to Debian; in production none, straight to Debian).
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, systemd

from deploys import data, model, render
from deploys.ops.config import checked_file


def upstream_proxy() -> str:
    """The lab's control machine proxy, or ``""`` outside a lab."""
    inv = model()
    return f"http://{inv.plan.control_ip}:3142" if inv.environment == "lab" else ""


@deploy("Package mirror")
def apply() -> None:
    apt.packages(name="apt-cacher-ng", packages=["apt-cacher-ng"])
    checked_file(name="apt-cacher-ng: upstream", path="/etc/apt-cacher-ng/zz-egov.conf",
                 content=render("mirror", "acng.conf.j2", upstream=data("mirror__upstream_proxy", upstream_proxy())),
                 reload="systemctl restart apt-cacher-ng")
    systemd.service(name="apt-cacher-ng running", service="apt-cacher-ng", running=True, enabled=True)
