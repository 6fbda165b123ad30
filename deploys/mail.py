"""``mail``: official e-mail of the province: postfix (SMTP, STARTTLS) and dovecot (IMAPS).

Certificates: ``mail__cert_file``/``mail__key_file`` (production) or the lab's CA.
Data: ``mail__relay_host`` (smarthost for outgoing mail; ``""`` delivers directly).
"""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd

from deploys import data, model, render
from deploys.ops.config import checked_file
from deploys.pki import certificate

CERT = "/etc/ssl/egov/mail.crt"
KEY = "/etc/ssl/egov/mail.key"


@deploy("Mail")
def apply() -> None:
    inv = model()
    domain = inv.province.domain
    hostname = f"mail.{domain}"
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
    checked_file(name="dovecot: IMAP over TLS", path="/etc/dovecot/conf.d/99-egov.conf",
                 content=render("mail", "dovecot.conf.j2", cert=CERT, key=KEY),
                 check="doveconf -n >/dev/null", reload="systemctl restart dovecot")
    for service in ("postfix", "dovecot"):
        systemd.service(name=f"{service} running", service=service, running=True, enabled=True)
