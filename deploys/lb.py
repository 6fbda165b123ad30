"""``lb``: the platform's entry point: HAProxy on every ``lb`` host, and keepalived moving one
virtual IP between them (unicast VRRP). HTTPS passes through to the ``web`` hosts' nginx.

Data: ``lb__vip``, ``lb__vrid`` (``inventory/defaults/services.yml``).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, systemd

from deploys import data, host_name, peers, render
from deploys.context import deploy_context
from deploys.facts.system import Ipv4Addresses
from deploys.ops.config import checked_file
from egov.errors import DeployError
from inventory.services import WEB_PORT, vip

PACKAGES = ["haproxy", "keepalived"]


@deploy("Load balancer")
def apply() -> None:
    inv = deploy_context().inventory
    address = vip(inv)
    lbs = peers("lb", network="server")
    mine = dict(lbs)[host_name()]
    interface = host.get_fact(Ipv4Addresses).get(mine)
    if interface is None:
        raise DeployError(f"{host_name()}: no interface holds {mine}, the address keepalived speaks VRRP from")
    subnet = inv.sites[inv.hosts[host_name()].site].subnets.get("server")
    apt.packages(name="HAProxy and keepalived", packages=PACKAGES)
    checked_file(name="haproxy: entry point", path="/etc/haproxy/haproxy.cfg",
                 content=render("lb", "haproxy.cfg.j2", backends=peers("web", network="server"), web_port=WEB_PORT),
                 check="haproxy -c -q -f {path}", reload="systemctl reload-or-restart haproxy")
    systemd.service(name="haproxy running", service="haproxy", running=True, enabled=True)
    position = [name for name, _ in lbs].index(host_name())
    checked_file(
        name="keepalived: the VIP", path="/etc/keepalived/keepalived.conf",
        content=render("lb", "keepalived.conf.j2", router_id=host_name(), interface=interface,
                       vrid=data("lb__vrid"), priority=150 - 10 * position, src_ip=mine,
                       peers=[a for n, a in lbs if n != host_name()], vip=address,
                       prefix=subnet.prefixlen if subnet else 32),
        check="keepalived -t -f {path}", reload="systemctl reload-or-restart keepalived")
    systemd.service(name="keepalived running", service="keepalived", running=True, enabled=True)
