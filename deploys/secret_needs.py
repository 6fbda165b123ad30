"""Which secrets each role reads, so a run missing one is refused before any host is touched
(``SecretsError``: bad input, exit 2), not found missing half-way through, host by host.

``NEEDS`` maps a role to the names of the secrets its deploy reads (``deploys.secret(name)``) for
an inventory; ``tests/unit/test_deploys_secret_needs.py`` runs every role on recorded facts and
checks that it reads no secret this table does not list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from egov.errors import SecretsError
from egov.secrets import Secrets, add_generated
from inventory import ntp_keys
from inventory.applications import APPS
from inventory.services import roles_of
from monitoring.webconfig import SECRETS as WEB_SECRETS

if TYPE_CHECKING:
    from inventory import Host, Inventory


def _placed_apps(inv: Inventory) -> list[str]:
    # the db role makes a database and role for each application the inventory places
    return [app.secret for role, app in APPS.items() if inv.hosts_with_role(role)]


def _mailboxes(inv: Inventory) -> list[str]:
    from deploys.mail import alert_mailboxes

    return [f"mailbox_{name.replace('-', '_')}_password" for name in alert_mailboxes(inv)]


def _directory(inv: Inventory) -> list[str]:
    from deploys.directory import SERVICE_ACCOUNTS
    from deploys.mail import alert_mailboxes
    from inventory.roster import inventory_rosters

    mailboxes = alert_mailboxes(inv)
    return ["directory_admin_password", *(f"directory_{name}_password" for name in SERVICE_ACCOUNTS),
            *_mailboxes(inv), *(account.secret for account in inventory_rosters(inv, mailboxes))]


def _app_secret(name: str) -> Callable[[Inventory], list[str]]:
    return lambda inv: [name]


NEEDS: dict[str, Callable[[Inventory], list[str]]] = {
    "backup_source": lambda inv: ["backup_ssh_seed"],  # the backup hosts' public key, derived from it
    "backup": lambda inv: ["backup_ssh_seed", "db_backup_password"],
    "db": lambda inv: ["db_replication_password", "db_backup_password", *_placed_apps(inv)],
    "mail": lambda inv: [*_mailboxes(inv), "directory_mail_password"],
    "directory": _directory,
    # every endpoint's web config holds the scrape user, and the on-call user on the monitoring hosts; the
    # table is per role, so a run on any host asks for both (production sets every secret anyway)
    "ntp": ntp_keys.seed_names,  # the vendor routers' NTP keys derive from them
    "exporters": lambda inv: sorted(WEB_SECRETS.values()),
    "monitoring": lambda inv: sorted(WEB_SECRETS.values()),
    **{role: _app_secret(app.secret) for role, app in APPS.items()},
}


def needed(inv: Inventory, hosts: Iterable[Host]) -> dict[str, list[str]]:
    """Secret name -> the hosts whose roles read it."""
    out: dict[str, list[str]] = {}
    for host in hosts:
        for role in roles_of(host.roles):
            for name in NEEDS[role](inv) if role in NEEDS else ():
                out.setdefault(name, []).append(host.name)
    return out


def missing(inv: Inventory, hosts: Iterable[Host], secrets: Secrets) -> dict[str, list[str]]:
    """Of ``needed``, the secrets set neither in the environment nor in the secrets file."""
    return {name: users for name, users in needed(inv, hosts).items() if secrets.get(name, required=False) is None}


def generate(inv: Inventory, hosts: Iterable[Host], secrets: Secrets, path: Path) -> dict[str, list[str]]:
    """Every secret of ``missing`` generated into the 0600 secrets file ``path`` (made if absent;
    what it holds is kept): the production counterpart of a lab's own generation. Every one of
    them, an account's initial password too, is a value this tool chooses (the directory stores
    only its hash); the device credentials of the WAN are not among them. Returns what was added,
    with the hosts that need it; the values are in the file only."""
    added = missing(inv, hosts, secrets)
    add_generated(path, added)
    return added


def check(inv: Inventory, hosts: Iterable[Host], secrets: Secrets) -> None:
    """A SecretsError listing every missing secret (and an NTP key seed too short to derive from),
    each with the hosts that need it and where to set it; nothing in a lab, which generates its own
    (``deploys/context.py``)."""
    if inv.environment == "lab":
        return
    seeds = set(ntp_keys.seed_names(inv))
    problems = []
    for name, users in needed(inv, hosts).items():
        try:
            value = secrets.get(name)
        except SecretsError as exc:
            problems.append(f"{exc} (needed by {', '.join(users)})")
            continue
        if name in seeds and len(str(value)) < ntp_keys.SEED_MIN_LENGTH:
            problems.append(f"secret '{name}' is shorter than {ntp_keys.SEED_MIN_LENGTH} characters: the vendor "
                            f"routers' NTP keys derive from it (needed by {', '.join(users)})")
    if problems:
        raise SecretsError(problems)
