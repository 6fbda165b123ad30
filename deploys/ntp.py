"""``ntp``: the data centre's time servers (chrony), peering with each other.

They follow ``ntp__upstream_servers`` (the national time servers in production) and keep
serving their own clock at stratum 8 when no upstream answers (the lab has none), so every
client still agrees on one time. Clients are configured by ``base``.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from deploys import data, host_name, peers
from deploys.base import chrony
from deploys.context import deploy_context
from deploys.facts.system import ContainerKind

LOCAL_STRATUM = 8


@deploy("NTP")
def apply() -> None:
    chrony(bool(host.get_fact(ContainerKind)), servers=list(data("ntp__upstream_servers")),
           peer_hosts=[addr for name, addr in peers("ntp") if name != host_name()],
           allow=[str(deploy_context().inventory.plan.supernet)], local_stratum=LOCAL_STRATUM)
