"""``directory``: one directory of accounts for the province, OpenLDAP (Debian's slapd) on two or
more hosts in multi-provider replication (N+1, like the other critical roles).

- Base DN from the province's domain (``inventory.services.directory_base``: ``dc=quangninh,dc=gov,dc=vn``).
- TLS only: slapd (a native systemd unit in place of Debian's init.d script) listens on
  ``ldaps:///`` (636) and the local ``ldapi:///`` socket, never on 389;
  certificates from the platform CA (``directory__cert_file``/``directory__key_file`` in production).
- cn=config is rendered whole (``templates/deploys/directory/config.ldif.j2``), built into a
  fresh ``slapd.d`` with ``slapadd -n0`` and checked with ``slaptest`` before it replaces the live
  one: a config slaptest refuses never reaches slapd, and the same inventory gives the same file.
- Replication: every directory host pulls from every other (``olcSyncrepl``, refreshAndPersist over
  ldaps, the CA checked) and ``olcMultiProvider``, so either one takes writes and the other answers
  when one is stopped. The replication binds as the database's root DN (secret ``directory_admin_password``).
- Entries: the tree (``tree``) is written on the first directory host through ldapi (root's
  peer credentials), as LDIF changes against what the server holds (``directory_entries``), and
  replicates to the others: people from the rosters (``inventory/roster.py``), the alert mailboxes,
  the mail service's account, groups per agency and per role, and mail aliases.

Secrets: ``directory_admin_password``, ``directory_mail_password`` (postfix and dovecot look up
accounts with it), each account's initial password ``account_<uid>_password`` and each alert
mailbox's ``mailbox_<name>_password``; the server stores only ``{SSHA}`` hashes of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING

from pyinfra import host
from pyinfra.api import FactBase, deploy, operation
from pyinfra.api.command import FileUploadCommand
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files, server, systemd
from typing_extensions import override

from deploys import data, host_name, peers, render, secret
from deploys.context import deploy_context
from deploys.ldif import Entry, changes, parse, ssha
from deploys.ops import OperationCommands
from deploys.ops.config import checked_file
from deploys.pki import certificate, issuer_of, trust
from egov.errors import DeployError
from inventory.roster import Account, inventory_rosters
from inventory.services import DIRECTORY_PORT, directory_base, directory_name

if TYPE_CHECKING:
    from inventory.model import Inventory

CONFIG_LDIF = "/etc/ldap/egov-config.ldif"
SLAPD_D = "/etc/ldap/slapd.d"
TLS_DIR = "/etc/ldap/tls"
UNIT = "/etc/systemd/system/slapd.service"
LDAPI = "ldapi:///"
ROOT_EXTERNAL = f"-Q -Y EXTERNAL -H {LDAPI}"
SERVICE_ACCOUNTS = ("mail",)
# slapadd builds the new cn=config outside /etc/ldap (checked_file runs the check with /etc/ldap seen
# through a private copy that holds the new LDIF, gone when the check ends); slaptest checks it (-u:
# without opening the database files slapd holds); only then does it replace the live one, while slapd
# is stopped (slaptest opens the pid file's directory, which slapd's init script makes only when it starts)
NEW_SLAPD_D = "/var/lib/egov/slapd.d.egov-new"
BUILD = (f"install -d -o openldap -g openldap /var/run/slapd && mkdir -p {Path(NEW_SLAPD_D).parent} && "
         f"rm -rf {NEW_SLAPD_D} && mkdir -m 750 {NEW_SLAPD_D} && "
         f"slapadd -q -n0 -F {NEW_SLAPD_D} -l {{path}} && slaptest -Q -u -F {NEW_SLAPD_D} && "
         f"chown -R openldap:openldap {NEW_SLAPD_D}")
SWAP = (f"systemctl stop slapd && rm -rf {SLAPD_D} && mv {NEW_SLAPD_D} {SLAPD_D} && systemctl start slapd")
# a value slapd's config parser takes inside double quotes
_QUOTABLE = re.compile(r'^[^"\\\s]+$')


def admin_dn(base: str) -> str:
    return f"cn=admin,{base}"


def service_dn(base: str, name: str) -> str:
    return f"cn={name},ou=services,{base}"


def person_dn(base: str, uid: str) -> str:
    return f"uid={uid},ou=people,{base}"


def mailbox_dn(base: str, name: str) -> str:
    return f"uid={name},ou=mailboxes,{base}"


def mail_domain(inv: Inventory, agency: str) -> str:
    """Where the accounts of ``agency`` get their mail: its own domain, else the province's."""
    return inv.agencies[agency].mail_domain


def alias_address(inv: Inventory, agency: str, role: str) -> str:
    """The address of ``role`` at ``agency``: ``vanthu@<its domain>`` when the agency has a domain of
    its own, ``vanthu.<short>@<province domain>`` under the shared one (one name per agency there)."""
    domain = mail_domain(inv, agency)
    if domain.lower() == inv.province.domain.lower():
        return f"{role}.{inv.agencies[agency].short}@{domain}"
    return f"{role}@{domain}"


def tree(inv: Inventory, accounts: list[Account], mailboxes: list[str], aliases: list[str],
         password: Callable[[str], str]) -> list[Entry]:
    """Every entry the directory holds, parents first.

    + accounts: the rosters' people (``uid=<uid>,ou=people``), mail ``<uid>@<agency domain>``
    + mailboxes: the alert mailboxes' names (``uid=<name>,ou=mailboxes``), mail ``<name>@<province domain>``
    + aliases: roles that get an address per agency (``alias_address``) delivering to its people of that role
    + password: the value of a secret, by name
    """
    base = directory_base(inv)
    domain = inv.province.domain
    ous = ("people", "groups", "agencies,ou=groups", "roles,ou=groups", "aliases", "mailboxes", "services")
    entries: list[Entry] = [(base, {"objectClass": ["top", "dcObject", "organization"],
                                    "dc": [base.split(",")[0][3:]], "o": [inv.province.name]})]
    entries += [(f"ou={ou},{base}", {"objectClass": ["top", "organizationalUnit"], "ou": [ou.split(",")[0]]})
                for ou in ous]
    for name in SERVICE_ACCOUNTS:
        dn = service_dn(base, name)
        entries.append((dn, {"objectClass": ["top", "applicationProcess", "simpleSecurityObject"], "cn": [name],
                             "userPassword": [ssha(password(f"directory_{name}_password"), dn)]}))
    for name in mailboxes:
        dn = mailbox_dn(base, name)
        entries.append((dn, {"objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson"],
                             "uid": [name], "cn": [name], "sn": [name], "mail": [f"{name}@{domain}"],
                             "userPassword": [ssha(password(f"mailbox_{name.replace('-', '_')}_password"), dn)]}))
    members: dict[str, list[str]] = {}
    for account in accounts:
        dn = person_dn(base, account.uid)
        entries.append((dn, {"objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson"],
                             "uid": [account.uid], "cn": [account.name], "sn": [account.surname],
                             "givenName": [account.given_name], "displayName": [account.name],
                             "mail": [f"{account.uid}@{mail_domain(inv, account.agency)}"],
                             "o": [inv.agencies[account.agency].name], "ou": [account.agency],
                             "employeeType": list(account.roles),
                             "userPassword": [ssha(password(account.secret), dn)]}))
        for group in (f"cn={account.agency},ou=agencies", *(f"cn={r},ou=roles" for r in account.roles),
                      *(f"cn={account.agency}-{r},ou=roles" for r in account.roles)):
            members.setdefault(group, []).append(dn)
    for group, dns in members.items():
        cn = group.split(",")[0][3:]
        description = inv.agencies[cn].name if group.endswith("ou=agencies") else cn
        entries.append((f"{group},ou=groups,{base}", {"objectClass": ["top", "groupOfNames"], "cn": [cn],
                                                      "description": [description], "member": dns}))
    for role in aliases:
        for agency in dict.fromkeys(a.agency for a in accounts if role in a.roles):
            address = alias_address(inv, agency, role)
            targets = [f"{a.uid}@{mail_domain(inv, agency)}" for a in accounts
                       if a.agency == agency and role in a.roles]
            entries.append((f"cn={address},ou=aliases,{base}", {"objectClass": ["top", "nisMailAlias"],
                                                                 "cn": [address], "rfc822MailMember": targets}))
    return entries


class LdapEntries(FactBase[dict[str, dict[str, list[str]]]]):
    """The entries under ``base`` as root reads them over ldapi: ``{dn: {attribute: [values]}}``;
    ``{}`` when slapd is not installed, not running or holds no such base."""

    @override
    def command(self, base: str) -> str:
        return f"ldapsearch {ROOT_EXTERNAL} -LLL -o ldif-wrap=no -b '{base}' '(objectClass=*)' '*' 2>/dev/null || true"

    @override
    @staticmethod
    def default() -> dict[str, dict[str, list[str]]]:
        return {}

    @override
    def process(self, output: list[str]) -> dict[str, dict[str, list[str]]]:
        return dict(parse("\n".join(output)))


@operation()
def directory_entries(base: str, entries: list[Entry], managed: list[str],
                      initial_passwords: str) -> OperationCommands:
    """
    Make the directory under ``base`` hold ``entries``: add what is missing, replace what differs,
    delete what the managed subtrees hold besides.

    + base: the database's suffix, read back as root over ldapi
    + entries: the wanted entries, parents first
    + managed: subtrees whose other entries are deleted (people who left a roster)
    + initial_passwords: the subtree whose ``userPassword`` is written only when an entry is added

    **Example:**

    .. code:: python

        directory_entries(name="accounts", base="dc=quangninh,dc=gov,dc=vn", entries=tree(...),
                          managed=["ou=people,dc=quangninh,dc=gov,dc=vn"],
                          initial_passwords="ou=people,dc=quangninh,dc=gov,dc=vn")
    """
    current = host.get_fact(LdapEntries, base=base)
    ldif = changes(current, entries, managed, add_only=("userPassword", initial_passwords))
    if not ldif:
        host.noop(f"{len(entries)} entries are up to date")
        return
    temp = host.get_temp_filename(f"egov-ldap-{base}")
    yield FileUploadCommand(StringIO(ldif), temp, remote_temp_filename=temp)
    # the changes hold password hashes: the file goes as soon as slapd has read it
    yield f"chmod 600 {temp} && ldapmodify {ROOT_EXTERNAL} -f {temp} >/dev/null; rc=$?; rm -f {temp}; exit $rc"


def trust_directory(inv: Inventory) -> None:
    """For a client of the directory (mail, the applications): trust the CA that issued its
    certificate (``directory__ca_file``, or the lab's CA), so its ldaps connections verify it."""
    hosts = inv.hosts_with_role("directory")
    if hosts:
        trust(issuer_of("directory", hosts[0].vars), "directory client")


def _quotable(name: str, value: str) -> str:
    if not _QUOTABLE.match(value):
        raise DeployError(f"{host_name()}: secret {name}: the replication credentials go into slapd's config in "
                          "double quotes: no quote, backslash or white space")
    return value


@deploy("Directory")
def apply() -> None:
    inv = deploy_context().inventory
    base = directory_base(inv)
    directory_hosts = peers("directory")
    me = host_name()
    names = [n for n, _a in directory_hosts]
    if me not in names:
        raise DeployError(f"{me}: not a directory host")
    issued = certificate("directory", [directory_name(inv), *(a for _n, a in directory_hosts)], prefix="directory")
    if "slapd" not in host.get_fact(DebPackages):
        # Debian's slapd would make a database of its own (dc=nodomain) on install: this config replaces it
        server.shell(name="slapd: install without a database of its own",
                     commands=["echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections"])
    apt.packages(name="slapd and the LDAP tools", packages=["slapd", "ldap-utils"])
    files.directory(name="slapd: TLS directory", path=TLS_DIR, user="root", group="openldap", mode="750")
    cert = files.put(name="slapd: certificate", src=StringIO(issued.cert_pem), dest=f"{TLS_DIR}/directory.crt",
                     user="root", group="openldap", mode="644")
    key = files.put(name="slapd: certificate key", src=StringIO(issued.key_pem), dest=f"{TLS_DIR}/directory.key",
                    user="root", group="openldap", mode="640")
    trust(issued.ca_pem, "directory")
    # before the config: a first start (the config's) is this unit's, on ldaps and ldapi only
    unit = checked_file(name="slapd: a native unit, on ldaps and ldapi only", path=UNIT,
                        content=render("directory", "slapd.service.j2", slapd_d=SLAPD_D),
                        reload="systemctl daemon-reload")
    admin_password = secret("directory_admin_password")
    others = [(n, a) for n, a in directory_hosts if n != me]
    config = checked_file(
        name="slapd: cn=config (checked by slaptest)", path=CONFIG_LDIF, mode="600",
        content=render("directory", "config.ldif.j2", base=base, admin_dn=admin_dn(base),
                       admin_hash=ssha(admin_password, admin_dn(base)), server_id=names.index(me) + 1,
                       providers=[(names.index(n) + 1, f"ldaps://{a}:{DIRECTORY_PORT}") for n, a in others],
                       credentials=_quotable("directory_admin_password", admin_password),
                       tls_dir=TLS_DIR, size_limit=data("directory__size_limit"),
                       max_size=int(data("directory__max_size_mb")) * 1024 * 1024),
        check=BUILD, reload=SWAP)
    systemd.service(name="slapd restarted on a new certificate or unit", service="slapd", restarted=True,
                    _if=lambda: bool(cert.did_change() or key.did_change() or unit.did_change())
                    and not config.did_change())
    systemd.service(name="slapd running", service="slapd", running=True, enabled=True)
    if me == names[0]:
        from deploys.mail import alert_mailboxes

        mailboxes = alert_mailboxes(inv)
        accounts = inventory_rosters(inv, mailboxes)  # every bad row, or none
        wanted = tree(inv, accounts, mailboxes, list(data("directory__aliases")), secret)
        managed = [f"ou={ou},{base}" for ou in ("people", "groups", "aliases", "mailboxes", "services")]
        directory_entries(name=f"{len(accounts)} accounts, their groups and aliases", base=base, entries=wanted,
                          managed=managed, initial_passwords=f"ou=people,{base}", _retries=6, _retry_delay=5)
