"""`egov inventory add-site` and `add-agency`: append a site or an agency to the YAML without
disturbing a comment or a line of it.

The new file is validated in full before it is written; an invalid result writes nothing. A
site takes the lowest free index of its level, so its addresses come from an unused block and
no other site's addresses move.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from egov.errors import InventoryError
from inventory.loader import load_inventory
from inventory.model import Agency, Inventory
from inventory.schema import KIND_ALIASES
from inventory.source import read_text, round_trip_yaml


@dataclass
class AddedSite:
    """What add-site did: ``changed`` is False when the site was already there (nothing written)."""

    site: str
    level: str
    parent: str
    index: int
    changed: bool
    subnets: dict[str, str] = field(default_factory=dict)
    routers: list[dict[str, Any]] = field(default_factory=list)
    hosts: list[dict[str, Any]] = field(default_factory=list)


def _flow(**items: Any) -> CommentedMap:
    """A one-line ``{name: ..., slot: ...}`` entry, like the hand-written ones."""
    entry = CommentedMap(items)
    entry.fa.set_flow_style()
    for key, value in items.items():
        if isinstance(value, list):
            seq = CommentedSeq(value)
            seq.fa.set_flow_style()
            entry[key] = seq
    return entry


def lowest_free_index(inv: Inventory, level: str) -> int:
    used = {s.index for s in inv.sites.values() if s.level == level}
    lvl = inv.level(level)
    index = next((i for i in range(lvl.max_sites) if i not in used), None)
    if index is None:
        raise InventoryError(f"{inv.path}: level {level} is full: all {lvl.max_sites} indexes are taken "
                             f"(levels[{level}].max_sites)")
    return index


def add_site(path: str | Path, parent: str, level: str, name: str, code: str | None = None,
             title: str | None = None, kind: str | None = None, router: str | None = None) -> AddedSite:
    """Add site ``name`` under ``parent``; with a router (``router``, default ``<name>-r1``) uplinked to the
    parent's routers when the parent has any, and a host ``<name>-node1`` when it is a local node."""
    path = Path(path)
    inv = load_inventory(path)
    if level not in [lvl.name for lvl in inv.levels]:
        levels = ", ".join(known.name for known in inv.levels)
        raise InventoryError(f"{path}: no level is named {level!r} (levels: {levels})")
    if parent not in inv.sites:
        raise InventoryError(f"{path}: no site is named {parent!r}")
    if name in inv.sites:
        existing = inv.sites[name]
        if (existing.parent, existing.level) != (parent, level):
            raise InventoryError(f"{path}: site {name!r} already exists at level {existing.level} "
                                 f"under {existing.parent!r}")
        return _describe(inv, name, changed=False)

    index = lowest_free_index(inv, level)
    lvl = inv.level(level)
    if kind is None:  # what the level's sites usually are (levels are data, so is this)
        kinds = Counter(s.kind for s in inv.sites.values() if s.level == level)
        if not kinds:
            raise InventoryError(f"{path}: level {level} has no sites yet: give --kind")
        kind = kinds.most_common(1)[0][0]

    entry = CommentedMap(name=name)
    if title:
        entry["title"] = title
    if code:
        entry["code"] = DoubleQuotedScalarString(code)  # codes are strings: "022" must not become 22
    entry.update(level=level, kind=kind, index=index, parent=parent)
    if KIND_ALIASES.get(kind, kind) == "local_node":
        entry["hosts"] = CommentedSeq([_flow(name=f"{name}-node1", slot=0, roles=["local_node"])])
    uplinks = inv.sites[parent].routers[:lvl.max_uplinks]
    if uplinks:
        entry["routers"] = CommentedSeq([_flow(name=router or f"{name}-r1", slot=0, uplinks=list(uplinks))])

    new_inv = _append(path, "sites", entry, blank_line=True)
    return _describe(new_inv, name, changed=True)


@dataclass
class AddedAgency:
    """What add-agency did: ``changed`` is False when the agency was already there (nothing written)."""

    code: str
    name: str
    site: str
    level: str
    portal: str
    mail_domain: str
    changed: bool


def add_agency(path: str | Path, code: str, name: str, short: str, site: str, portal: str | None = None,
               mail_domain: str | None = None, confirmed: bool = True) -> AddedAgency:
    """Add agency ``code`` at ``site`` (its portal ``<short>.<province domain>`` unless ``portal``, its
    mail under the shared domain unless ``mail_domain``); the same agency again changes nothing."""
    path = Path(path)
    inv = load_inventory(path)
    existing = inv.agencies.get(code)
    if existing is not None:
        wanted = (name, short, site, portal or existing.portal, mail_domain or existing.mail_domain)
        if (existing.name, existing.short, existing.site, existing.portal, existing.mail_domain) != wanted:
            raise InventoryError(f"{path}: agency {code!r} already exists ({existing.name}, site {existing.site}, "
                                 f"portal {existing.portal}): edit it in the file")
        return _agency(existing, changed=False)
    entry = _flow(code=code, name=name, short=short, site=site)
    for key, value in (("portal", portal), ("mail_domain", mail_domain)):
        if value:
            entry[key] = value
    if not confirmed:
        entry["confirmed"] = False
    new_inv = _append(path, "agencies", entry, blank_line=False)
    return _agency(new_inv.agencies[code], changed=True)


def _agency(agency: Agency, changed: bool) -> AddedAgency:
    return AddedAgency(code=agency.code, name=agency.name, site=agency.site, level=agency.level,
                       portal=agency.portal, mail_domain=agency.mail_domain, changed=changed)


def _append(path: Path, section: str, entry: CommentedMap, blank_line: bool) -> Inventory:
    """Append ``entry`` to the file's top-level list ``section`` (a new section at the end of the file when
    there is none), validate the whole result and only then write it; returns the new inventory.

    The entry's text goes in after the section's last line: before the comments and blank lines that
    introduce the next top-level key (ruamel would attach those to the section's last item and put the
    entry after them), so every existing line stays as it was, in its place."""
    yaml = round_trip_yaml()
    text = read_text(path)
    tree = yaml.load(io.StringIO(text))
    out = io.StringIO()
    yaml.dump(CommentedSeq([entry]), out)   # "  - ...": the indentation of the hand-written items
    item = ("\n" if blank_line else "") + out.getvalue()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    if section not in tree:
        new_text = "".join(lines) + f"\n{section}:\n" + out.getvalue()
    elif not tree[section]:
        raise InventoryError(f"{path}: {section} is empty ({section}: [] or null): write it as a list to add to")
    else:
        keys = list(tree)
        following = keys[keys.index(section) + 1:]
        end = tree.lc.key(following[0])[0] if following else len(lines)
        while end > 0 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
            end -= 1
        new_text = "".join(lines[:end]) + item + "".join(lines[end:])
    new_inv = load_inventory(path, text=new_text)   # raises with every problem; nothing is written
    _write(path, new_text)
    return new_inv


def _write(path: Path, text: str) -> None:
    """Replace the file atomically, keeping its mode."""
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _describe(inv: Inventory, name: str, changed: bool) -> AddedSite:
    site = inv.sites[name]
    return AddedSite(
        site=name, level=site.level, parent=site.parent or "", index=site.index, changed=changed,
        subnets={p: str(n) for p, n in site.subnets.items()},
        routers=[{"name": r.name, "platform": r.platform, "loopback": str(r.loopback), "mgmt_ip": str(r.mgmt_ip),
                  "links": [f"{i.link.name} {i.link.subnet}" for i in r.interfaces]}
                 for r in (inv.routers[n] for n in site.routers)],
        hosts=[{"name": h.name, "roles": h.roles, "mgmt_ip": str(h.mgmt_ip),
                "server_ip": str(h.server_ip) if h.server_ip else None}
               for h in (inv.hosts[n] for n in site.hosts)],
    )
