"""Layered variables: the one place that knows the lookup order and remembers where a value came from.

Lowest to highest (a higher layer wins):

1. built-in defaults, ``inventory/defaults/*.yml`` (one file per concern, in file-name order);
2. the inventory's province-wide ``defaults``;
3. the ``defaults`` of the site's level;
4. the ``vars`` of the site's ancestors, top first (a commune inherits its district's vars);
5. the site's own ``vars``;
6. the host's (or router's) ``vars``.

Merging: mappings merge key by key, at any depth. Everything else, lists included, is replaced
whole by the higher layer: a layer that sets a list states the entire list (appending would make
it impossible for a site to remove an entry it inherited). ``null`` is a value like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def plain(value: Any) -> Any:
    """Plain dicts and lists (ruamel's commented types would leak comments and positions)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class Resolved:
    """Merged variables plus, for every key path (``a`` and ``a.b``), the label of the layer that set it."""

    __slots__ = ("origins", "values")

    def __init__(self, values: dict[str, Any] | None = None, origins: dict[str, str] | None = None) -> None:
        self.values: dict[str, Any] = values if values is not None else {}
        self.origins: dict[str, str] = origins if origins is not None else {}

    def over(self, label: str, layer: Mapping[str, Any]) -> Resolved:
        """A new Resolved with ``layer`` applied on top of this one (this one is not changed)."""
        if not layer:
            return self
        origins = dict(self.origins)
        return Resolved(_merge(self.values, layer, label, origins, ""), origins)

    def origin(self, key: str) -> str | None:
        """Where ``key`` (a top-level name or a dotted path into mappings) got its value; None if unset."""
        return self.origins.get(key)


def _merge(base: dict[str, Any], layer: Mapping[str, Any], label: str, origins: dict[str, str],
           prefix: str) -> dict[str, Any]:
    out = dict(base)
    for key, value in layer.items():
        path = f"{prefix}{key}"
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            out[key] = _merge(current, value, label, origins, f"{path}.")
            origins[path] = label
            continue
        if isinstance(current, dict):  # a mapping replaced whole: its inner paths no longer exist
            for stale in [p for p in origins if p.startswith(f"{path}.")]:
                del origins[stale]
        out[key] = plain(value)
        _mark(origins, path, out[key], label)
    return out


def _mark(origins: dict[str, str], path: str, value: Any, label: str) -> None:
    origins[path] = label
    if isinstance(value, dict):
        for key, sub in value.items():
            _mark(origins, f"{path}.{key}", sub, label)
