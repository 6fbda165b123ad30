"""``dns``: the province's resolvers (unbound), answering the internal zone from the inventory.

Every DNS host serves the same data, so clients list two of them. Besides port 53 it serves DNS
over TLS (853) with the host's certificate: the local nodes' resolvers forward over it. Records: ``<host>.<domain>``
(its server-LAN address, else management), ``<host>.mgmt.<domain>`` (management), and the
platform's service names (``www``, ``portal``... on the load balancer's VIP).

Data: ``dns__forwarders`` (upstream resolvers; empty: recurse from the root, or in the lab
answer only the internal zone).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import Command
from pyinfra.operations import apt, server, systemd

from deploys import data, render
from deploys.base import KEY_GROUP, host_tls
from deploys.context import deploy_context
from deploys.ops.config import checked_file
from inventory.services import DNS_TLS_PORT, SERVICE_NAMES, vip

PACKAGES = ["unbound"]


def records() -> list[tuple[str, str]]:
    """The internal zone's A records, from the inventory model."""
    inv = deploy_context().inventory
    domain = inv.province.domain
    out = []
    for h in inv.hosts.values():
        out.append((f"{h.name}.{domain}", str(h.server_ip or h.mgmt_ip)))
        out.append((f"{h.name}.mgmt.{domain}", str(h.mgmt_ip)))
    address = vip(inv)
    if address:
        out += [(f"{name}.{domain}", address) for name in SERVICE_NAMES]
        # every agency's component portal, a virtual host behind the same entry point (deploys/web.py)
        out += [(agency.portal, address) for agency in inv.agencies.values()]
    return out


# The package's own first start binds ::1, which a host without IPv6 lacks, and systemd's restart
# loop then hits its start limit: clear it before starting on our configuration.
UNBOUND_RESTART = "systemctl reset-failed unbound; systemctl restart unbound"


@deploy("DNS")
def apply() -> None:
    inv = deploy_context().inventory
    apt.packages(name="unbound", packages=PACKAGES)
    # unbound serves DNS over TLS with the host's key, which only the key's group reads
    if KEY_GROUP not in (host.get_fact(Command, command="id -nG unbound 2>/dev/null || true") or "").split():
        server.shell(name="unbound may read the host key", commands=[f"adduser --quiet unbound {KEY_GROUP}"])
    cert, key, _ca = host_tls()
    checked_file(
        name="unbound: internal zone and resolver", path="/etc/unbound/unbound.conf.d/egov.conf",
        content=render("dns", "unbound.conf.j2", zone=inv.province.domain, records=records(),
                       allow=[str(inv.plan.supernet), "127.0.0.0/8"], forwarders=data("dns__forwarders"),
                       tls_port=DNS_TLS_PORT, cert=cert, key=key),
        check="unbound-checkconf", reload=UNBOUND_RESTART,
    )
    systemd.service(name="unbound running", service="unbound", running=True, enabled=True)
