"""LDIF (RFC 2849) written and read, and the ``{SSHA}`` password hashes slapd checks.

A value that is not a SAFE-STRING (any non-ASCII byte, as in a Vietnamese name; a leading space,
``:`` or ``<``; a trailing space; a line break) is written base64-encoded after ``::``, as the RFC
requires; lines are folded at 76 characters. ``parse`` reads what ``ldapsearch -LLL`` prints.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

# (dn, attribute -> values); attribute names as written, values in order
Entry = tuple[str, dict[str, list[str]]]

_SAFE = re.compile(r"^[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*$")
WIDTH = 76


def _line(attribute: str, value: str) -> str:
    if value == "" or (_SAFE.match(value) and not value.endswith(" ")):
        text = f"{attribute}: {value}" if value else f"{attribute}:"
    else:
        text = f"{attribute}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}"
    # fold: the first line WIDTH characters, each continuation a space and WIDTH - 1 more
    parts = [text[:WIDTH]] + [" " + text[i:i + WIDTH - 1] for i in range(WIDTH, len(text), WIDTH - 1)]
    return "\n".join(parts)


def dump(entries: list[Entry]) -> str:
    """``entries`` as LDIF content records, one blank line after each."""
    out = []
    for dn, attributes in entries:
        lines = [_line("dn", dn)]
        lines += [_line(attribute, value) for attribute, values in attributes.items() for value in values]
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def parse(text: str) -> list[Entry]:
    """The entries of LDIF ``text`` (folded lines, ``::`` base64 values, ``#`` comments, ``version:``)."""
    records: list[list[str]] = [[]]
    for raw in text.splitlines():
        if not raw.strip():
            if records[-1]:
                records.append([])
        elif raw.startswith(" ") and records[-1]:
            records[-1][-1] += raw[1:]
        elif not raw.startswith("#"):
            records[-1].append(raw)
    entries: list[Entry] = []
    for record in records:
        if not record or record[0].startswith("version:"):
            continue
        pairs = []
        for line in record:
            attribute, _, rest = line.partition(":")
            if rest.startswith(":"):
                value = base64.b64decode(rest[1:].strip()).decode("utf-8")
            else:
                value = rest[1:] if rest.startswith(" ") else rest
            pairs.append((attribute, value))
        if not pairs or pairs[0][0].lower() != "dn":
            continue
        attributes: dict[str, list[str]] = {}
        for attribute, value in pairs[1:]:
            attributes.setdefault(attribute, []).append(value)
        entries.append((pairs[0][1], attributes))
    return entries


def ssha(password: str, seed: str) -> str:
    """``password`` as slapd's ``{SSHA}``: base64(SHA-1(password + salt) + salt). The 8-byte salt is
    derived from the password and ``seed`` (the entry's DN), so an unchanged password gives the same
    hash and a second deploy changes nothing, while two entries with one password still differ."""
    salt = hmac.new(password.encode(), f"egov ldap {seed}".encode(), hashlib.sha256).digest()[:8]
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def _same(a: list[str], b: list[str]) -> bool:
    return sorted(a) == sorted(b)


def changes(current: dict[str, dict[str, list[str]]], wanted: list[Entry], managed: list[str],
            add_only: tuple[str, str] | None = None) -> str:
    """The LDIF change records (RFC 2849 ``changetype``) that turn ``current`` into ``wanted``.

    + current: the server's entries, by DN (what ``parse`` gives, keyed by DN)
    + wanted: the entries that must exist, parents before children
    + managed: subtrees (DNs) whose entries not in ``wanted`` are deleted, children first
    + add_only: ``(attribute, subtree)``: that attribute of the entries under that subtree is written
      when the entry is added and never replaced after (an initial password the person has since changed)

    An entry that exists gets a ``replace`` of each wanted attribute whose values differ (case of
    attribute names and order of values aside); attributes it has besides are left alone. ``""``
    when nothing differs.
    """
    have = {dn.lower(): {a.lower(): v for a, v in attrs.items()} for dn, attrs in current.items()}
    records: list[str] = []
    for dn, attributes in wanted:
        existing = have.get(dn.lower())
        if existing is None:
            lines = [_line("dn", dn), "changetype: add"]
            lines += [_line(a, v) for a, values in attributes.items() for v in values]
            records.append("\n".join(lines) + "\n")
            continue
        modify = []
        for attribute, values in attributes.items():
            initial = add_only is not None and attribute.lower() == add_only[0].lower() \
                and dn.lower().endswith("," + add_only[1].lower())
            if initial or _same(existing.get(attribute.lower(), []), values):
                continue
            modify += [f"replace: {attribute}", *(_line(attribute, v) for v in values), "-"]
        if modify:
            records.append("\n".join([_line("dn", dn), "changetype: modify", *modify]) + "\n")
    keep = {dn.lower() for dn, _a in wanted}
    roots = [m.lower() for m in managed]
    stale = [dn for dn in current if dn.lower() not in keep
             and any(dn.lower().endswith("," + root) for root in roots)]
    for dn in sorted(stale, key=lambda d: -d.count(",")):
        records.append(f"{_line('dn', dn)}\nchangetype: delete\n")
    return "\n".join(records)
