"""``mail``: official e-mail of the province: postfix (SMTP with STARTTLS; submission on 587, TLS
and authentication required) and dovecot (IMAPS; postfix's SASL authentication; LMTP delivery),
with every account and mailbox from the directory (``deploys/directory.py``).

- Virtual mailboxes: every domain of the platform (the province's and each agency's own) is a
  virtual mailbox domain; postfix asks the directory over ldaps (``postfix-ldap``, through
  proxymap) which addresses exist (an entry's ``mail``) and what the aliases expand to
  (``nisMailAlias`` entries: ``vanthu@<agency domain>``), and hands mail to dovecot over LMTP.
- Dovecot checks a login by binding to the directory as the account (``dovecot-ldap``,
  ``auth_bind``): the login is the uid or the mail address, and either opens the mailbox of the
  address (``/var/vmail/<domain>/<local part>``, owned by ``vmail``), under the quota ``mail__quota``.
- Lookups bind as ``cn=mail,ou=services`` (secret ``directory_mail_password``).

Certificates: ``mail__cert_file``/``mail__key_file`` (production) or the lab's CA.
Data: ``mail__relay_host`` (smarthost for outgoing mail; ``""`` delivers directly).

Alert mailboxes: every alert address of the inventory at the province's domain (the NOC's
``monitoring__noc_email``, each site IT's ``monitoring__it_email``) is a directory mailbox
(``uid=<name>,ou=mailboxes``) whose password is the secret ``mailbox_<name>_password``. Log in as ``<name>``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from deploys import data, peers, render, secret
from deploys.context import deploy_context
from deploys.directory import trust_directory
from deploys.ops.config import checked_file
from deploys.pki import certificate, install
from egov.errors import DeployError
from inventory.services import DIRECTORY_PORT, directory_base, mail_name

if TYPE_CHECKING:
    from inventory.model import Inventory

_MAILBOX = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # a directory uid, also a valid local part
VMAIL = "/var/vmail"
PACKAGES = ["postfix", "postfix-ldap", "dovecot-imapd", "dovecot-lmtpd", "dovecot-ldap"]
# postfix's LDAP tables: what each asks the directory (postfix's ldap_table(5))
LDAP_TABLES = {
    "mailboxes": ("(&(objectClass=inetOrgPerson)(mail=%s))", "mail"),
    "aliases": ("(&(objectClass=nisMailAlias)(cn=%s))", "rfc822MailMember"),
}
# Debian's postfix makes these RFC 2142 role addresses aliases of root; an alert mailbox of the same
# name (noc) must not be one
ROLE_ALIASES = ("postmaster", "nobody", "hostmaster", "usenet", "news", "webmaster", "www", "ftp", "abuse", "noc",
                "security")


@deploy("Mail")
def apply() -> None:
    inv = deploy_context().inventory
    domain = inv.province.domain
    hostname = mail_name(inv)
    directories = [f"ldaps://{address}:{DIRECTORY_PORT}" for _n, address in peers("directory")]
    if not directories:
        raise DeployError(f"{inv.path}: mail takes its accounts from the directory: no host has role directory")
    base = directory_base(inv)
    lookup_password = secret("directory_mail_password")
    issued = certificate("mail", [hostname, domain], prefix="mail")
    if "exim4-daemon-light" in host.get_fact(DebPackages):
        # Debian's default MTA (base's packages recommend one) goes when postfix comes, but its init
        # script cannot stop a daemon of another user where /proc/<pid>/exe is unreadable (a container
        # without CAP_SYS_PTRACE): its cgroup is killed, or it keeps port 25 from postfix
        server.shell(name="exim4 out of postfix's way",
                     commands=["systemctl kill --signal=KILL exim4.service; systemctl stop exim4.service; true"])
    apt.packages(name="postfix and dovecot, with their LDAP lookups", packages=PACKAGES)
    cert, key = install(issued, "mail")
    trust_directory(inv)
    tables = [checked_file(name=f"postfix: {table} from the directory", path=ldap_table(table),
                           mode="640", group="postfix",
                           content=render("mail", "ldap-table.cf.j2", servers=directories, base=base,
                                          bind_dn=f"cn=mail,ou=services,{base}", bind_pw=lookup_password,
                                          query=query, result=result),
                           check="postfix check")
              for table, (query, result) in LDAP_TABLES.items()]
    main = checked_file(name="postfix: main.cf", path="/etc/postfix/main.cf",
                        content=render("mail", "main.cf.j2", domain=domain, hostname=hostname,
                                       networks=[str(inv.plan.supernet)], relay_host=data("mail__relay_host"),
                                       cert=cert, key=key, domains=mail_domains(inv),
                                       tables={t: ldap_table(t) for t in LDAP_TABLES}),
                        check="postfix check")
    master = checked_file(name="postfix: master.cf with submission", path="/etc/postfix/master.cf",
                          content=render("mail", "master.cf.j2"), check="postfix check")
    # a restart, not a reload: postfix's master keeps its listeners' address families (and
    # inet_interfaces) across a reload, then dies binding a new service on the old ones
    systemd.service(name="postfix restarted on change", service="postfix", restarted=True,
                    _if=any_changed(main, master, *tables))
    names = alert_mailboxes(inv)
    # the whole file, not a line removed: facts are read before apt installs postfix, which writes it
    checked_file(name="postfix: aliases", path="/etc/aliases",
                 content=render("mail", "aliases.j2", aliases=[a for a in ROLE_ALIASES if a not in names]),
                 check="postalias -q postmaster {path} >/dev/null", reload="newaliases")
    server.group(name="vmail: group", group="vmail", system=True)
    server.user(name="vmail: owner of every mailbox", user="vmail", group="vmail", home=VMAIL, system=True,
                shell="/usr/sbin/nologin", create_home=False, ensure_home=False)
    files.directory(name="vmail: mailboxes", path=VMAIL, user="vmail", group="vmail", mode="750")
    restart = "systemctl restart dovecot"
    checked_file(name="dovecot: accounts from the directory", path="/etc/dovecot/dovecot-ldap.conf.ext",
                 mode="600", content=render("mail", "dovecot-ldap.conf.ext.j2", servers=directories, base=base,
                                            bind_dn=f"cn=mail,ou=services,{base}", bind_pw=lookup_password),
                 check="doveconf -n >/dev/null", reload=restart)
    checked_file(name="dovecot: the directory is the one password database", path="/etc/dovecot/conf.d/10-auth.conf",
                 content=render("mail", "dovecot-auth.conf.j2"), check="doveconf -n >/dev/null", reload=restart)
    checked_file(name="dovecot: IMAP over TLS, LMTP and SASL for postfix, quotas",
                 path="/etc/dovecot/conf.d/99-egov.conf",
                 content=render("mail", "dovecot.conf.j2", cert=cert, key=key, vmail=VMAIL, quota=data("mail__quota")),
                 check="doveconf -n >/dev/null", reload=restart)
    for service in ("postfix", "dovecot"):
        systemd.service(name=f"{service} running", service=service, running=True, enabled=True)
    # postfix.service is a oneshot that starts this instance: the daemon that must be running
    systemd.service(name="postfix daemon running", service="postfix@-", running=True)


def ldap_table(table: str) -> str:
    """Where postfix's LDAP table ``table`` (a key of ``LDAP_TABLES``) is configured."""
    return f"/etc/postfix/ldap-{table}.cf"


def mail_domains(inv: Inventory) -> list[str]:
    """Every domain the platform's mail host holds mailboxes for: the province's and each agency's."""
    return sorted({inv.province.domain.lower(), *(a.mail_domain.lower() for a in inv.agencies.values())})


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
