"""Reading inventory YAML with the line of every node, and collecting problems against it.

Every problem is reported as ``FILE:LINE: field.path: what is wrong``. The field path names
list items by their ``name`` where they have one (``sites[tien-yen].routers[qn-ty-r1].uplinks[1]``),
so a message reads like the file does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from egov import yamlfile
from egov.errors import InventoryError

FieldPath = Sequence[str | int]


def round_trip_yaml() -> YAML:
    """The one ruamel configuration used to edit inventories (keeps comments)."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a hand-written line
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def read_text(path: Path) -> str:
    """The file's text, within the limits of ``egov.yamlfile`` (size, a regular file, UTF-8)."""
    return yamlfile.read_text(path, InventoryError)


def load_source(path: Path, text: str | None = None) -> Source:
    """Parse a file once, within the limits of ``egov.yamlfile``: its data and the line of every node."""
    text = read_text(path) if text is None else text
    return Source(yamlfile.parse(path, text, InventoryError))


class Source:
    """One parsed YAML file: answers 'which line is this field on' and formats problems."""

    def __init__(self, document: yamlfile.Document) -> None:
        self.path = document.path
        self.data = document.data
        self.line = document.line

    def label(self, field: FieldPath) -> str:
        """``sites[dc].hosts[dc-db1].roles[0]``: list items are named by their ``name`` when they have one
        (agencies by their ``code``: their name is a sentence)."""
        node: Any = self.data
        key = "code" if field and field[0] == "agencies" else "name"
        out = ""
        for part in field:
            if isinstance(part, int):
                item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
                name = item.get(key) if isinstance(item, dict) else None
                out += f"[{name}]" if isinstance(name, str) else f"[{part}]"
                node = item
            else:
                out += f".{part}" if out else str(part)
                node = node.get(part) if isinstance(node, dict) else None
        return out or "(top)"

    def problem(self, field: FieldPath, message: str, line: int | None = None) -> str:
        return f"{self.path}:{self.line(field) if line is None else line}: {self.label(field)}: {message}"


class Problems:
    """Collects every problem of a file, so the user sees them all at once."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.items: list[tuple[int, str]] = []

    def add(self, field: FieldPath, message: str) -> None:
        line = self.source.line(field)
        self.items.append((line, self.source.problem(field, message, line)))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            # file order, so the list reads top to bottom like the YAML
            raise InventoryError([text for _, text in sorted(self.items, key=lambda item: item[0])])
