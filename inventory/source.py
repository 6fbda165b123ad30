"""Reading inventory YAML with the line of every node, and collecting problems against it.

Every problem is reported as ``FILE:LINE: field.path: what is wrong``. The field path names
list items by their ``name`` where they have one (``sites[tien-yen].routers[qn-ty-r1].uplinks[1]``),
so a message reads like the file does.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from egov.errors import InventoryError

FieldPath = Sequence[str | int]


def round_trip_yaml() -> YAML:
    """The one ruamel configuration used to read and to edit inventories (keeps comments)."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a hand-written line
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{path}: not UTF-8 text: {exc.reason}") from None


def load_source(path: Path, text: str | None = None) -> Source:
    """Parse a file the fast way; a file libyaml refuses is parsed by ruamel, which says where and why."""
    text = read_text(path) if text is None else text
    try:
        return Source(path, fast_load(text), text)
    except pyyaml.YAMLError:
        data = read_yaml(path, text)  # raises with the line; if ruamel accepts it after all, use its reading
        return Source(path, data)


def read_yaml(path: Path, text: str | None = None) -> Any:
    """Parse one YAML file; a syntax error or a duplicate key becomes an InventoryError with its line."""
    text = read_text(path) if text is None else text
    try:
        return round_trip_yaml().load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        raise InventoryError(f"{path}:{line}: (yaml): {what}") from None


class _FastLoader(pyyaml.CSafeLoader if hasattr(pyyaml, "CSafeLoader") else pyyaml.SafeLoader):  # type: ignore[misc]
    """libyaml, resolving scalars the way ruamel's YAML 1.2 does (``yes`` and ``017`` are a string and 17),
    and refusing duplicate keys like ruamel."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, pyyaml.ScalarNode):  # inventory keys are scalars; compare them unconstructed
                if key_node.value in seen:
                    raise pyyaml.constructor.ConstructorError(None, None, f"duplicate key {key_node.value!r}",
                                                              key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node: Any) -> int:
        value = str(self.construct_scalar(node)).replace("_", "")
        sign = -1 if value.startswith("-") else 1
        value = value.lstrip("+-")
        bases = {"0b": 2, "0o": 8, "0x": 16}
        base = bases.get(value[:2].lower(), 10)
        return sign * int(value[2:] if base != 10 else value, base)


_FastLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                                                          "tag:yaml.org,2002:float")]
    for first, resolvers in pyyaml.SafeLoader.yaml_implicit_resolvers.items()
}
_FastLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))
_FastLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?0b[01_]+|[-+]?0o[0-7_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?[0-9][0-9_]*)$"),
    list("-+0123456789"))
_FastLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))
_FastLoader.add_constructor("tag:yaml.org,2002:int", _FastLoader.construct_yaml_int)


def fast_load(text: str) -> Any:
    """Parse with libyaml (ten times faster than ruamel's round trip); raises pyyaml.YAMLError.

    Only for reading: a file that fails here, or whose content has a problem, is parsed again
    with ruamel to find the lines (``Source.tree``)."""
    return pyyaml.load(text, Loader=_FastLoader)


class Source:
    """One parsed YAML file: answers 'which line is this field on' and formats problems.

    ``data`` is the parsed content; the line-numbered ruamel tree is parsed only when a
    problem needs a line (valid files never pay for it)."""

    def __init__(self, path: Path, data: Any, text: str | None = None) -> None:
        self.path = path
        self.data = data
        self.text = text
        self._tree: Any = None if text is not None else data

    @property
    def tree(self) -> Any:
        if self._tree is None:
            self._tree = read_yaml(self.path, self.text)
        return self._tree

    def line(self, field: FieldPath) -> int:
        """The 1-based line of the deepest node of ``field`` that exists in the file."""
        node, line = self.tree, 1
        if isinstance(node, (CommentedMap, CommentedSeq)):
            line = node.lc.line + 1
        for part in field:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        return line

    def label(self, field: FieldPath) -> str:
        """``sites[dc].hosts[dc-db1].roles[0]``: list items are named by their ``name`` when they have one."""
        node: Any = self.data
        out = ""
        for part in field:
            if isinstance(part, int):
                item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
                name = item.get("name") if isinstance(item, dict) else None
                out += f"[{name}]" if isinstance(name, str) else f"[{part}]"
                node = item
            else:
                out += f".{part}" if out else str(part)
                node = node.get(part) if isinstance(node, dict) else None
        return out or "(top)"

    def problem(self, field: FieldPath, message: str) -> str:
        return f"{self.path}:{self.line(field)}: {self.label(field)}: {message}"


class Problems:
    """Collects every problem of a file, so the user sees them all at once."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.items: list[tuple[int, str]] = []

    def add(self, field: FieldPath, message: str) -> None:
        self.items.append((self.source.line(field), self.source.problem(field, message)))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            # file order, so the list reads top to bottom like the YAML
            raise InventoryError([text for _, text in sorted(self.items, key=lambda item: item[0])])
