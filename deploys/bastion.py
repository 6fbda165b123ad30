"""``bastion``: the administrators' way in. SSH keys only (``base``), TCP forwarding allowed here
only (``base`` reads the role), every host's firewall admits SSH from it (the inventory's
``noc_networks``), and fail2ban (every host, ``base``) bans sooner and longer here.
"""

from __future__ import annotations

from pyinfra.api import deploy

from deploys import render
from deploys.ops.config import checked_file


@deploy("Bastion")
def apply() -> None:
    checked_file(name="fail2ban: stricter SSH jail", path="/etc/fail2ban/jail.d/egov-bastion.local",
                 content=render("bastion", "jail-bastion.local.j2"),
                 check="fail2ban-client -t >/dev/null", reload="systemctl restart fail2ban")
