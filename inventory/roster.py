"""Rosters: the people of each agency, one CSV file per agency, loaded into the directory.

``<rosters dir>/<agency code>.csv`` (UTF-8, a header line, ``#`` lines are comments)::

    uid,name,roles
    nguyenvana,Nguyễn Văn An,lanhdao;vanthu

- ``uid``: the login, unique in the province: a lower-case letter, then letters, digits, ``.``
  or ``-`` (32 at most), also the mailbox's local part;
- ``name``: the person's full name as written, diacritics and all (Vietnamese order: family name
  first, given name last);
- ``roles``: one or more of the known roles (``directory__roles``), separated by ``;``.

Rosters hold no password: each account's initial password is the secret
``account_<uid>_password`` (``.`` and ``-`` as ``_``), generated into a lab's secrets file.

Every bad row is reported with its file and line, all of them at once; nothing is loaded from
a roster with a bad row.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from egov.errors import InventoryError

if TYPE_CHECKING:
    from inventory.model import Inventory

UID = re.compile(r"^[a-z][a-z0-9.-]{0,31}$")
AGENCY = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
COLUMNS = ("uid", "name", "roles")
MAX_NAME = 128
MAX_BYTES = 4 * 1024 * 1024  # a roster of a large department is a few hundred kB


@dataclass(frozen=True)
class Account:
    """One person of a roster.

    + uid: the login and the mailbox's local part
    + name: the full name (NFC), e.g. ``Nguyễn Văn An``
    + agency: the agency code (the roster file's name)
    + roles: the person's roles, in the roster's order
    + where: ``file:line`` of the row
    """

    uid: str
    name: str
    agency: str
    roles: tuple[str, ...]
    where: str

    @property
    def surname(self) -> str:
        """The family name (họ): the first word."""
        return self.name.split()[0]

    @property
    def given_name(self) -> str:
        """The given name (tên): the last word."""
        return self.name.split()[-1]

    @property
    def secret(self) -> str:
        """The name of the secret that holds the initial password."""
        return "account_" + re.sub(r"[.-]", "_", self.uid) + "_password"


def _name_problem(name: str) -> str | None:
    if not name.strip():
        return "is empty"
    if len(name) > MAX_NAME:
        return f"is longer than {MAX_NAME} characters"
    if any(unicodedata.category(c).startswith("C") for c in name):
        return "holds a control character"
    return None


def parse_roster(path: Path, known_roles: Iterable[str]) -> tuple[list[Account], list[str]]:
    """The accounts of one roster file and the problems of its bad rows (``file:line: ...``)."""
    agency = path.stem
    known = set(known_roles)
    problems: list[str] = []
    if not AGENCY.match(agency):
        return [], [f"{path}: the file name must be an agency code (lower-case letters, digits, -), got {agency!r}"]
    try:
        if path.stat().st_size > MAX_BYTES:
            return [], [f"{path}: larger than {MAX_BYTES} bytes"]
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [f"{path}: not UTF-8 text (byte {exc.start})"]
    except OSError as exc:
        return [], [f"{path}: cannot read: {exc.strerror}"]
    # comment lines become blank lines, which csv skips, so line numbers stay the file's
    lines = ["" if line.lstrip().startswith("#") else line for line in text.splitlines()]
    reader = csv.reader(lines)
    header: list[str] | None = None
    accounts: list[Account] = []
    try:
        for row in reader:
            line = reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            if header is None:
                header = [c.lower() for c in cells]
                missing = [c for c in COLUMNS if c not in header]
                if missing:
                    return [], [f"{path}:{line}: the header must name the columns {', '.join(COLUMNS)} "
                                 f"(missing: {', '.join(missing)})"]
                continue
            if len(cells) != len(header):
                problems.append(f"{path}:{line}: {len(cells)} fields, the header has {len(header)}")
                continue
            fields = dict(zip(header, cells, strict=True))
            uid, name = fields["uid"], unicodedata.normalize("NFC", fields["name"])
            roles = tuple(r.strip() for r in fields["roles"].split(";") if r.strip())
            row_problems = []
            if not UID.match(uid):
                row_problems.append(f"uid: {uid!r}: a lower-case letter, then letters, digits, . or - (32 at most)")
            if (why := _name_problem(name)) is not None:
                row_problems.append(f"name: {why}")
            if not roles:
                row_problems.append("roles: at least one role")
            unknown = [r for r in roles if r not in known]
            if unknown:
                row_problems.append(f"roles: unknown {', '.join(unknown)} (known: {', '.join(sorted(known))})")
            if row_problems:
                problems.extend(f"{path}:{line}: {p}" for p in row_problems)
                continue
            accounts.append(Account(uid, name, agency, roles, f"{path}:{line}"))
    except csv.Error as exc:
        problems.append(f"{path}:{reader.line_num}: {exc}")
    if header is None:
        problems.append(f"{path}: no header line ({','.join(COLUMNS)})")
    return accounts, problems


def load_rosters(directory: Path, known_roles: Iterable[str], agencies: Iterable[str] | None = None,
                 reserved: Iterable[str] = ()) -> list[Account]:
    """Every account of every ``*.csv`` in ``directory``, in file and row order.

    + known_roles: the roles a row may name
    + agencies: the inventory's agency codes a roster file must be named after (None: any)
    + reserved: uids taken by the platform (the alert mailboxes)

    Raises InventoryError with every problem of every file (bad rows, a uid twice, an unknown agency).
    """
    if not directory.is_dir():
        return []
    known = list(known_roles)
    codes = set(agencies) if agencies is not None else None
    taken = set(reserved)
    problems: list[str] = []
    accounts: list[Account] = []
    seen: dict[str, Account] = {}
    for path in sorted(directory.glob("*.csv")):
        if codes is not None and path.stem not in codes:
            problems.append(f"{path}: no agency {path.stem!r} in the inventory")
            continue
        found, bad = parse_roster(path, known)
        problems += bad
        for account in found:
            if account.uid in seen:
                problems.append(f"{account.where}: uid: {account.uid!r} is already {seen[account.uid].where}")
            elif account.uid in taken:
                problems.append(f"{account.where}: uid: {account.uid!r} is a platform mailbox's")
            else:
                seen[account.uid] = account
                accounts.append(account)
    if problems:
        raise InventoryError(problems)
    return accounts


def inventory_rosters(inv: Inventory, reserved: Iterable[str] = ()) -> list[Account]:
    """The accounts of ``inv``'s rosters: ``directory__rosters`` of its first directory host (relative
    to the inventory's directory), rows checked against its ``directory__roles``, files against its
    agencies; ``[]`` when no host has role directory.

    + reserved: uids taken by the platform (the alert mailboxes)
    """
    hosts = inv.hosts_with_role("directory")
    if not hosts:
        return []
    settings = hosts[0].vars
    path = Path(settings["directory__rosters"])
    if not path.is_absolute():
        path = inv.path.parent / path
    return load_rosters(path, settings["directory__roles"], agencies=list(inv.agencies), reserved=reserved)
