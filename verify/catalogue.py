"""The control catalogue (``verify/controls.yml``) as typed data, loaded with line numbers.

Every problem in the file is reported at once, each naming the file, the line and the field, so a
bad edit to the standard gives one clear message and never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from egov import yamlfile
from egov.errors import InputError
from inventory.services import canonical_role

DEFAULT_CATALOGUE = Path(__file__).with_name("controls.yml")
GROUPS = ("network", "server", "application", "data")
SEVERITIES = ("required", "recommended")
CONTROL_KEYS = {"id", "title", "group", "severity", "roles", "check", "params"}


class CatalogueError(InputError):
    """The control catalogue does not load or does not validate."""


@dataclass(frozen=True)
class Control:
    """One requirement of the standard and the check that implements it."""

    id: str
    title: str
    group: str
    severity: str
    roles: tuple[str, ...]  # ("all",) or role names
    check: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def required(self) -> bool:
        return self.severity == "required"

    def applies_to(self, roles: list[str]) -> bool:
        return "all" in self.roles or any(role in self.roles for role in roles)


@dataclass(frozen=True)
class Catalogue:
    path: Path
    groups: dict[str, str]
    controls: list[Control]
    services: dict[str, tuple[str, ...]]  # role -> systemd units it runs

    def services_for(self, roles: list[str]) -> list[str]:
        """The units a host with these roles runs (base first, no repeats)."""
        seen: dict[str, None] = {}
        for role in ["base", *roles]:
            seen.update(dict.fromkeys(self.services.get(role, ())))
        return list(seen)


def _line(node: Any, key: str | int | None = None) -> int:
    """1-based line of a mapping key (or of the node itself) in the YAML file."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return 0
    if key is not None:
        try:
            return int(lc.key(key)[0] if isinstance(key, str) else lc.item(key)[0]) + 1
        except (KeyError, IndexError, TypeError):
            pass
    return int(lc.line) + 1


def load_catalogue(path: str | Path = DEFAULT_CATALOGUE, checks: set[str] | None = None) -> Catalogue:
    """Load and validate the catalogue; ``checks`` is the set of known check names (default: all)."""
    if checks is None:
        from verify.checks import CHECKS

        checks = set(CHECKS)
    path = Path(path)
    text = yamlfile.read_text(path, CatalogueError)
    yamlfile.parse(path, text, CatalogueError)  # the bounds (depth, aliases, tags, keys) before ruamel reads it
    try:
        doc = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise CatalogueError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, dict):
        raise CatalogueError(f"{path}: must be a mapping with keys groups, controls and roles")

    problems: list[str] = []

    def bad(node: Any, key: str | int | None, message: str) -> None:
        problems.append(f"{path}:{_line(node, key)}: {message}")

    groups = doc.get("groups") or {}
    if not isinstance(groups, dict) or set(groups) != set(GROUPS):
        bad(doc, "groups", f"groups must name exactly {', '.join(GROUPS)}")
        groups = {g: g for g in GROUPS}

    services: dict[str, tuple[str, ...]] = {}
    raw_services = doc.get("services")
    if not isinstance(raw_services, dict):
        bad(doc, "services" if "services" in doc else None, "services must map every role to its systemd units")
        raw_services = {}
    for name, units in raw_services.items():
        if not isinstance(units, list) or not all(isinstance(u, str) and u for u in units):
            bad(raw_services, name, f"services of role '{name}': must be a list of systemd unit names")
            continue
        services[canonical_role(str(name))] = tuple(units)   # an old role name: its level-neutral role's

    controls: list[Control] = []
    raw_controls = doc.get("controls")
    if not isinstance(raw_controls, list) or not raw_controls:
        bad(doc, "controls" if "controls" in doc else None, "controls must be a non-empty list")
        raw_controls = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw_controls):
        if not isinstance(item, dict):
            bad(raw_controls, i, "a control must be a mapping")
            continue
        cid = str(item.get("id", f"#{i + 1}"))
        for key in sorted(set(item) - CONTROL_KEYS):
            bad(item, key, f"control {cid}: unknown field '{key}' (known: {', '.join(sorted(CONTROL_KEYS))})")
        for key in sorted(CONTROL_KEYS - {"params"} - set(item)):
            bad(item, None, f"control {cid}: missing field '{key}'")
        if cid in seen:
            bad(item, "id", f"control {cid}: duplicate id (first at line {seen[cid]})")
        seen.setdefault(cid, _line(item, "id"))
        if "group" in item and item["group"] not in GROUPS:
            bad(item, "group", f"control {cid} field group: '{item['group']}' is not one of {', '.join(GROUPS)}")
        if "severity" in item and item["severity"] not in SEVERITIES:
            bad(item, "severity", f"control {cid} field severity: '{item['severity']}' is not one of "
                                  f"{', '.join(SEVERITIES)}")
        if "check" in item and item["check"] not in checks:
            bad(item, "check", f"control {cid} field check: unknown check '{item['check']}' "
                               f"(known: {', '.join(sorted(checks))})")
        raw = item.get("roles")
        role_list = [raw] if raw == "all" else raw
        if "roles" in item and (not isinstance(role_list, list) or not role_list):
            bad(item, "roles", f"control {cid} field roles: must be \"all\" or a list of role names")
            role_list = []
        role_list = [canonical_role(str(role)) for role in role_list or []]
        for role in role_list:
            if role != "all" and role not in services:
                bad(item, "roles", f"control {cid} field roles: unknown role '{role}' (not in the services table)")
        params = item.get("params") or {}
        if not isinstance(params, dict):
            bad(item, "params", f"control {cid} field params: must be a mapping")
            params = {}
        if not set(CONTROL_KEYS - {"params"}) - set(item):
            controls.append(Control(id=cid, title=str(item["title"]), group=str(item["group"]),
                                    severity=str(item["severity"]), roles=tuple(str(r) for r in role_list or []),
                                    check=str(item["check"]), params=dict(params)))
    if problems:
        raise CatalogueError(problems)
    return Catalogue(path=path, groups={str(k): str(v) for k, v in groups.items()}, controls=controls,
                     services=services)
