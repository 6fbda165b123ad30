"""``mail``: official e-mail of the province: postfix (SMTP with STARTTLS; submission on 587, TLS
and authentication required) and dovecot (IMAPS; postfix's SASL authentication).

Certificates: ``mail__cert_file``/``mail__key_file`` (production) or the lab's CA.
Data: ``mail__relay_host`` (smarthost for outgoing mail; ``""`` delivers directly).
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, systemd
from pyinfra.operations.util import any_changed

from deploys import data, render
from deploys.context import deploy_context
from deploys.ops.config import checked_file
from deploys.pki import certificate, install
from inventory.services import mail_name


@deploy("Mail")
def apply() -> None:
    inv = deploy_context().inventory
    domain = inv.province.domain
    hostname = mail_name(inv)
    issued = certificate("mail", [hostname, domain], prefix="mail")
    apt.packages(name="postfix and dovecot", packages=["postfix", "dovecot-imapd"])
    cert, key = install(issued, "mail")
    main = checked_file(name="postfix: main.cf", path="/etc/postfix/main.cf",
                        content=render("mail", "main.cf.j2", domain=domain, hostname=hostname,
                                       networks=[str(inv.plan.supernet)], relay_host=data("mail__relay_host"),
                                       cert=cert, key=key),
                        check="postfix check")
    master = checked_file(name="postfix: master.cf with submission", path="/etc/postfix/master.cf",
                          content=render("mail", "master.cf.j2"), check="postfix check")
    # a restart, not a reload: postfix's master keeps its listeners' address families (and
    # inet_interfaces) across a reload, then dies binding a new service on the old ones
    systemd.service(name="postfix restarted on change", service="postfix", restarted=True,
                    _if=any_changed(main, master))
    checked_file(name="dovecot: IMAP over TLS, SASL for postfix", path="/etc/dovecot/conf.d/99-egov.conf",
                 content=render("mail", "dovecot.conf.j2", cert=cert, key=key),
                 check="doveconf -n >/dev/null", reload="systemctl restart dovecot")
    for service in ("postfix", "dovecot"):
        systemd.service(name=f"{service} running", service=service, running=True, enabled=True)
    # postfix.service is a oneshot that starts this instance: the daemon that must be running
    systemd.service(name="postfix daemon running", service="postfix@-", running=True)
