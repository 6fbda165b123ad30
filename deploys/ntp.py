"""``ntp``: the data centre's time servers (chrony), peering with each other.

They follow ``ntp__upstream_servers`` (the national time servers in production) and keep
serving their own clock at stratum 8 when no upstream answers (the lab has none), so every
client still agrees on one time. They serve NTS (RFC 8915) with the host's certificate: every
client (configured by ``base``) authenticates each time packet, across the WAN too. The vendor
routers, which have no NTS, sign theirs with a key of their own (inventory/ntp_keys.py), which
the time servers hold in chrony's key file. The two peer in plain symmetric mode, which NTS does
not cover, inside the data centre.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from deploys import data, host_name, peers, render
from deploys.base import chrony, host_certificate
from deploys.context import deploy_context
from deploys.facts.system import ContainerKind
from deploys.ops.config import checked_file
from deploys.pki import install
from inventory import ntp_keys
from inventory.model import Inventory

LOCAL_STRATUM = 8
# Debian's chrony package runs chronyd as _chrony, primary group _chrony
CHRONY_GROUP = "_chrony"
KEY_FILE = "/etc/chrony/chrony.keys"  # chrony.conf's keyfile (templates/deploys/base/chrony.conf.j2)


def router_keys(inv: Inventory) -> list[ntp_keys.RouterKey]:
    """Every vendor router's NTP key, by key id."""
    secret = deploy_context().secret
    keys = [ntp_keys.router_key(r, inv.plan.pools["loopback"], secret(ntp_keys.seed_name(r)))
            for r in inv.routers.values() if r.platform in ntp_keys.MACS]
    return sorted((k for k in keys if k is not None), key=lambda k: k.id)


@deploy("NTP")
def apply() -> None:
    # chronyd reads its key after dropping to _chrony and all supplementary groups (ssl-cert, which
    # reads the host key, among them): a copy of the host's certificate for _chrony's own group
    key_pair = install(host_certificate(), "chrony", key_group=CHRONY_GROUP)
    # read by chronyd at start; ``rekey`` reads it again without a restart (a chronyd not running
    # yet reads it when chrony() below starts it)
    checked_file(name="the vendor routers' NTP keys", path=KEY_FILE, mode="640", group=CHRONY_GROUP,
                 content=render("ntp", "chrony.keys.j2", keys=router_keys(deploy_context().inventory)),
                 reload="if systemctl is-active --quiet chrony; then chronyc rekey; fi")
    chrony(bool(host.get_fact(ContainerKind)), servers=list(data("ntp__upstream_servers")), nts_servers=[],
           peer_hosts=[addr for name, addr in peers("ntp") if name != host_name()],
           allow=[str(deploy_context().inventory.plan.supernet)], local_stratum=LOCAL_STRATUM,
           nts_key_pair=key_pair)
