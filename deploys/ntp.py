"""``ntp``: the data centre's time servers (chrony), peering with each other.

They follow ``ntp__upstream_servers`` (the national time servers in production) and keep
serving their own clock at stratum 8 when no upstream answers (the lab has none), so every
client still agrees on one time. They serve NTS (RFC 8915) with the host's certificate: every
client (configured by ``base``) authenticates each time packet, across the WAN too. The two
peer in plain symmetric mode, which NTS does not cover, inside the data centre.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from deploys import data, host_name, peers
from deploys.base import chrony, host_certificate
from deploys.context import deploy_context
from deploys.facts.system import ContainerKind
from deploys.pki import install

LOCAL_STRATUM = 8
# Debian's chrony package runs chronyd as _chrony, primary group _chrony
CHRONY_GROUP = "_chrony"


@deploy("NTP")
def apply() -> None:
    # chronyd reads its key after dropping to _chrony and all supplementary groups (ssl-cert, which
    # reads the host key, among them): a copy of the host's certificate for _chrony's own group
    key_pair = install(host_certificate(), "chrony", key_group=CHRONY_GROUP)
    chrony(bool(host.get_fact(ContainerKind)), servers=list(data("ntp__upstream_servers")), nts_servers=[],
           peer_hosts=[addr for name, addr in peers("ntp") if name != host_name()],
           allow=[str(deploy_context().inventory.plan.supernet)], local_stratum=LOCAL_STRATUM,
           nts_key_pair=key_pair)
