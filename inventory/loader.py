"""Load an inventory file: parse it with line numbers, check the schema, then build the model.

Two stages, each reporting every problem it finds: the schema (types, required and unknown keys,
here) and then the meaning (names, parents, platforms, roles, uplinks, addresses, the Tier 3 rule:
``inventory.rules``, applied while ``inventory.builder`` builds the model). The second stage needs
a file that passed the first.
"""

from __future__ import annotations

import functools
import typing
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from egov.errors import InventoryError
from egov.gcpause import collector_paused
from inventory import rules
from inventory.builder import build_model
from inventory.layers import Resolved, plain
from inventory.model import Inventory
from inventory.schema import AgencySpec, InventorySpec, SiteSpec
from inventory.source import FieldPath, Problems, load_source

DEFAULTS_DIR = Path(__file__).parent / "defaults"


@collector_paused()
def load_inventory(path: str | Path, text: str | None = None) -> Inventory:
    """Load and validate ``path`` (``text``, when given, is used instead of the file's content).

    Raises InventoryError with one ``FILE:LINE: field: problem`` line per problem.
    """
    path = Path(path)
    source = load_source(path, text)
    problems = Problems(source)
    if not isinstance(source.data, dict):
        problems.add((), "the inventory must be a mapping (environment, province, plan, levels, defaults, sites)")
        problems.raise_if_any()
    spec = _validate(InventorySpec, source.data, (), problems)
    raw_sites = source.data.get("sites")
    sites = [_validate(SiteSpec, raw, ("sites", i), problems) for i, raw in enumerate(raw_sites)] \
        if isinstance(raw_sites, list) else []
    raw_agencies = source.data.get("agencies")
    agencies = [_validate(AgencySpec, raw, ("agencies", i), problems) for i, raw in enumerate(raw_agencies)] \
        if isinstance(raw_agencies, list) else []
    if spec is None:
        problems.raise_if_any()
    assert spec is not None
    # sites that failed the schema are left out of the second stage, and so are problems that would
    # only repeat theirs (a reference to a broken site is not reported as dangling)
    broken = _names_in([raw for raw, site in zip(raw_sites, sites, strict=True) if site is None])
    spec = spec.model_copy(update={"sites": sites, "agencies": agencies})
    _check_variables(spec, problems)
    inventory = build_model(path, spec, _base_layers(spec), problems, broken)
    problems.raise_if_any()
    return inventory


def _validate(model: Any, data: Any, where: tuple[Any, ...], problems: Problems) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = _loc(error["loc"])
            problems.add((*where, *loc), _schema_message(model, error))
        return None


def _names_in(raw_sites: list[Any]) -> set[str]:
    """Names of the broken sites and of their hosts and routers, as far as they can be read."""
    names: set[str] = set()
    for raw in raw_sites:
        if not isinstance(raw, dict):
            continue
        names.add(str(raw.get("name")))
        for key in ("hosts", "routers"):
            items = raw.get(key)
            if isinstance(items, list):
                names.update(str(item.get("name")) for item in items if isinstance(item, dict))
    return names


def _loc(loc: tuple[Any, ...]) -> FieldPath:
    # pydantic marks a bad mapping key with a trailing '[key]'
    return [part for part in loc if part != "[key]"]


def _allowed_keys(model: Any, loc: FieldPath) -> list[str]:
    """The keys the section holding ``loc``'s last part takes, found by walking the schema along ``loc``."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = typing.get_args(annotation)
        model = args[0] if args else annotation  # list[SiteSpec] -> SiteSpec
    return list(getattr(model, "model_fields", {}))


def _schema_message(model: Any, error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required, but missing"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, _loc(error["loc"]))
        return "unknown key" + (f" (this section takes: {', '.join(allowed)})" if allowed else "")
    value = error.get("input")
    shown = f" (got {value!r})" if isinstance(value, (str, int, float, bool)) or value is None else ""
    return f"{error['msg']}{shown}"


def _check_variables(spec: InventorySpec, problems: Problems) -> None:
    """Every variable each layer of the file sets: documented, of its type and range, where it is set."""
    documented = {key for _, values in builtin_defaults() for key in values}
    layers: list[tuple[FieldPath, dict[str, Any]]] = [(("defaults",), spec.defaults)]
    layers += [(("levels", i, "defaults"), level.defaults) for i, level in enumerate(spec.levels)]
    for i, site in enumerate(spec.sites):
        if site is None:
            continue
        layers.append((("sites", i, "vars"), site.vars))
        layers += [(("sites", i, "hosts", j, "vars"), host.vars) for j, host in enumerate(site.hosts)]
        layers += [(("sites", i, "routers", j, "vars"), router.vars) for j, router in enumerate(site.routers)]
    for field, values in layers:
        for finding in rules.variable_problems(field, values, documented):
            problems.add(*finding)


@functools.cache
def builtin_defaults() -> tuple[tuple[str, dict[str, Any]], ...]:
    """The documented defaults files, lowest first, as (layer label, values)."""
    layers = []
    problems: list[str] = []
    for file in sorted(DEFAULTS_DIR.glob("*.yml")):
        source = load_source(file)
        data = source.data or {}
        if not isinstance(data, dict):
            problems.append(source.problem((), "a defaults file must be a mapping of variables"))
            continue
        problems.extend(source.problem((key,), "defaults are namespaced: name it <concern>__<name>")
                        for key in data if "__" not in str(key))
        layers.append((f"defaults inventory/defaults/{file.name}", plain(data)))
    if problems:
        raise InventoryError(problems)
    return tuple(layers)


def _base_layers(spec: InventorySpec) -> Resolved:
    """The layers below the levels: the defaults files, then the province's ``defaults``."""
    base = Resolved()
    for label, values in builtin_defaults():
        base = base.over(label, values)
    return base.over("province", spec.defaults)
