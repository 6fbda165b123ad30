"""``mail``: official e-mail of the province: postfix (SMTP with STARTTLS; submission on 587, TLS
and authentication required) and dovecot (IMAPS; postfix's SASL authentication).

Certificates: ``mail__cert_file``/``mail__key_file`` (production) or the lab's CA.
Data: ``mail__relay_host`` (smarthost for outgoing mail; ``""`` delivers directly).

Alert mailboxes: every alert address of the inventory at the province's domain (the NOC's
``monitoring__noc_email``, each site IT's ``monitoring__it_email``) is a mailbox here: a system
user of that name (postfix delivers to its ``~/Maildir``) whose IMAP password, the secret
``mailbox_<name>_password``, dovecot checks from its own file, not /etc/shadow. Log in as ``<name>``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import TYPE_CHECKING

from pyinfra.api import deploy
from pyinfra.operations import apt, server, systemd
from pyinfra.operations.util import any_changed

from deploys import data, render, secret
from deploys.context import deploy_context
from deploys.ops.config import checked_file
from deploys.pki import certificate, install
from egov.errors import DeployError
from inventory.services import mail_name

PACKAGES = ["postfix", "dovecot-imapd"]

if TYPE_CHECKING:
    from inventory.model import Inventory

MAILBOX_PASSWORDS = "/etc/dovecot/egov-users"
_MAILBOX = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # a system user's name
PBKDF2_ROUNDS = 100_000
# Debian's postfix makes these RFC 2142 role addresses aliases of root; an alert mailbox of the same
# name (noc) must not be one
ROLE_ALIASES = ("postmaster", "nobody", "hostmaster", "usenet", "news", "webmaster", "www", "ftp", "abuse", "noc",
                "security")


@deploy("Mail")
def apply() -> None:
    inv = deploy_context().inventory
    domain = inv.province.domain
    hostname = mail_name(inv)
    issued = certificate("mail", [hostname, domain], prefix="mail")
    apt.packages(name="postfix and dovecot", packages=PACKAGES)
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
    _alert_mailboxes(inv)
    checked_file(name="dovecot: IMAP over TLS, SASL for postfix", path="/etc/dovecot/conf.d/99-egov.conf",
                 content=render("mail", "dovecot.conf.j2", cert=cert, key=key, passwords=MAILBOX_PASSWORDS),
                 check="doveconf -n >/dev/null", reload="systemctl restart dovecot")
    for service in ("postfix", "dovecot"):
        systemd.service(name=f"{service} running", service=service, running=True, enabled=True)
    # postfix.service is a oneshot that starts this instance: the daemon that must be running
    systemd.service(name="postfix daemon running", service="postfix@-", running=True)


def alert_mailboxes(inv: Inventory) -> list[str]:
    """The names of the alert addresses (the NOC's, each site IT's) at the province's domain."""
    from monitoring.targets import site_settings

    domain = inv.province.domain.lower()
    root = next(iter(inv.sites.values()))
    addresses = {site_settings(inv, root).noc_email, *(site_settings(inv, s).it_email for s in inv.sites.values())}
    names = sorted({a.lower().rpartition("@")[0] for a in addresses if a.lower().endswith("@" + domain)})
    for name in names:
        if not _MAILBOX.match(name):
            raise DeployError(f"{inv.path}: monitoring__noc_email/monitoring__it_email: {name}@{domain}: a mailbox "
                              "name is a system user's: a lower-case letter, then letters, digits, - or _ (32 at most)")
    return names


def dovecot_password(name: str, password: str) -> str:
    """``password`` in dovecot's PBKDF2 scheme (``{PBKDF2}$1$<salt>$<rounds>$<hex SHA-1 key>``). The
    salt is derived from the password and the name, so an unchanged password gives the same line
    and a second deploy changes nothing; two mailboxes with one password still differ."""
    salt = hmac.new(password.encode(), f"egov mailbox {name}".encode(), hashlib.sha256).hexdigest()[:16]
    key = hashlib.pbkdf2_hmac("sha1", password.encode(), salt.encode(), PBKDF2_ROUNDS, 20)
    return f"{{PBKDF2}}$1${salt}${PBKDF2_ROUNDS}${key.hex()}"


def _alert_mailboxes(inv: Inventory) -> None:
    names = alert_mailboxes(inv)
    lines = []
    for name in names:
        server.user(name=f"mailbox {name}", user=name, home=f"/home/{name}", shell="/usr/sbin/nologin",
                    create_home=True)
        password = secret(f"mailbox_{name.replace('-', '_')}_password")
        lines.append(f"{name}:{dovecot_password(name, password)}\n")
    checked_file(name="dovecot: the alert mailboxes' passwords", path=MAILBOX_PASSWORDS, content="".join(lines),
                 mode="640", group="dovecot")
    # the whole file, not a line removed: facts are read before apt installs postfix, which writes it
    checked_file(name="postfix: aliases", path="/etc/aliases",
                 content=render("mail", "aliases.j2", aliases=[a for a in ROLE_ALIASES if a not in names]),
                 check="postalias -q postmaster {path} >/dev/null", reload="newaliases")
