"""``mail``: official e-mail of the province: postfix (SMTP with STARTTLS; submission on 587, TLS
and authentication required) and dovecot (IMAPS; postfix's SASL authentication).

Certificates: ``mail__cert_file``/``mail__key_file`` (production) or the lab's CA.
Data: ``mail__relay_host`` (smarthost for outgoing mail; ``""`` delivers directly).
"""

from __future__ import annotations

from io import StringIO
from typing import Any

from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd

from deploys import data, model, render
from deploys.ops.config import checked_file
from deploys.pki import certificate

CERT = "/etc/ssl/egov/mail.crt"
KEY = "/etc/ssl/egov/mail.key"


def mail_name(inv: Any) -> str:
    """The mail host's name, on its certificate: ``mail.<province domain>``."""
    return f"mail.{inv.province.domain}"


@deploy("Mail")
def apply() -> None:
    inv = model()
    domain = inv.province.domain
    hostname = mail_name(inv)
    issued = certificate("mail", [hostname, domain], prefix="mail")
    apt.packages(name="postfix and dovecot", packages=["postfix", "dovecot-imapd"])
    files.directory(name="certificate directory", path="/etc/ssl/egov", mode="755")
    files.put(name="mail certificate", src=StringIO(issued.cert_pem), dest=CERT, mode="644")
    files.put(name="mail certificate key", src=StringIO(issued.key_pem), dest=KEY, mode="600")
    checked_file(name="postfix: main.cf", path="/etc/postfix/main.cf",
                 content=render("mail", "main.cf.j2", domain=domain, hostname=hostname,
                                networks=[str(inv.plan.supernet)], relay_host=data("mail__relay_host", ""),
                                cert=CERT, key=KEY),
                 check="postfix check", reload="systemctl reload-or-restart postfix")
    checked_file(name="postfix: master.cf with submission", path="/etc/postfix/master.cf",
                 content=render("mail", "master.cf.j2"),
                 check="postfix check", reload="systemctl reload-or-restart postfix")
    checked_file(name="dovecot: IMAP over TLS, SASL for postfix", path="/etc/dovecot/conf.d/99-egov.conf",
                 content=render("mail", "dovecot.conf.j2", cert=CERT, key=KEY),
                 check="doveconf -n >/dev/null", reload="systemctl restart dovecot")
    for service in ("postfix", "dovecot"):
        systemd.service(name=f"{service} running", service=service, running=True, enabled=True)
