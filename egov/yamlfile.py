"""Reading a YAML file the toolkit is given (inventory, secrets, exporter config), within bounds.

A file from a user is hostile until read: it may be a FIFO that never ends, a device that never
stops, a directory, gigabytes, a "billion laughs" of aliases, 100,000 nested lists (libyaml's
composer recurses in C and crashes the process), tags that ask for Python objects, or two keys
that are one after resolution (``1`` and ``0x1``). Each is refused here, before or while the file
is parsed, as one ``FILE:LINE: (yaml): problem`` line, in time and memory bounded by the limits:

- ``MAX_BYTES``: the file's size, 1 MiB (the largest sample inventory, 193 sites, is 50 KB);
- ``MAX_DEPTH``: nested mappings and lists (an inventory needs 6);
- ``MAX_ALIAS_NODES``: nodes that aliases may add to the file's own (the expanded tree);
- ``CORE_TAGS``: the YAML 1.2 core schema's tags, the only explicit tags allowed.

Scalars resolve as YAML 1.2 says, as ruamel (which edits inventories) reads them: ``yes`` and
``on`` are strings, ``017`` is 17, ``0o17`` is 15.

One parse gives both the data and the nodes with their lines (``Document.line``), so a file with
a problem is never parsed twice. libyaml parses, a small loop of ours composes the nodes (no
recursion, so the depth is counted before anything deep is built), pyyaml's safe constructor
builds the values.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml

from egov.errors import InputError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000
_YAML = "tag:yaml.org,2002:"
CORE_TAGS = frozenset(f"{_YAML}{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq"))
CORE_KIND = {yaml.SequenceNode: f"{_YAML}seq", yaml.MappingNode: f"{_YAML}map"}
# '!' marks a quoted scalar or a collection "not resolved implicitly": a string, a map, a list
NON_SPECIFIC = "!"

FieldPath = Sequence[str | int]


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None: a regular file)."""
    if stat.S_ISREG(mode):
        return None
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_text(path: Path, error: type[InputError] = InputError, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``; anything else is ``error``.

    Checked with stat before opening (opening a FIFO blocks), opened without blocking, checked again
    on the open file (it may have been swapped in between), and read no further than the limit."""
    try:
        kind = _kind(os.stat(path).st_mode)
        if kind is not None:
            raise error(f"{path}: is {kind}, not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            kind = _kind(st.st_mode)
            if kind is not None:
                raise error(f"{path}: is {kind}, not a regular file")
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise error(f"{path}: larger than the limit of {max_bytes // 1024} KiB ({st.st_size} bytes): "
                    "not an input this tool reads")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(f"{path}:{line}: (yaml): not UTF-8 text (byte {exc.start}: {exc.reason})") from None


class _Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """libyaml's parser, pyyaml's safe constructor; YAML 1.2 core scalars; duplicate keys (after
    resolution: ``1`` and ``0x1`` are one key) refused."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, "a key must be a plain value, not a list or "
                                                        "mapping", key_node.start_mark) from None
            if key in out:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {lines[key]})", key_node.start_mark)
            lines[key] = key_node.start_mark.line + 1
            out[key] = self.construct_object(value_node, deep=deep)
        return out

    def construct_yaml_map(self, node: Any) -> Any:
        # pyyaml fills mappings lazily (for recursive structures, which composing refuses); build at once
        yield self.construct_mapping(node)

    def construct_yaml_int(self, node: Any) -> int:
        if len(node.value) > 40:  # no setting is a number that long, and decimal conversion is quadratic
            raise yaml.constructor.ConstructorError(None, None, f"a number of {len(node.value)} digits",
                                                    node.start_mark)
        value = str(self.construct_scalar(node)).replace("_", "")
        sign = -1 if value.startswith("-") else 1
        value = value.lstrip("+-")
        bases = {"0b": 2, "0o": 8, "0x": 16}
        base = bases.get(value[:2].lower(), 10)
        return sign * int(value[2:] if base != 10 else value, base)


# YAML 1.1's merge keys (<<) and '=' values are not YAML 1.2: there, they are plain strings
_RESOLVED = (f"{_YAML}bool", f"{_YAML}int", f"{_YAML}float", f"{_YAML}merge", f"{_YAML}value")
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _RESOLVED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(f"{_YAML}bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    f"{_YAML}int", re.compile(r"^(?:[-+]?0b[01_]+|[-+]?0o[0-7_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?[0-9][0-9_]*)$"),
    list("-+0123456789"))
_Loader.add_implicit_resolver(
    f"{_YAML}float",
    re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))
_Loader.add_constructor(f"{_YAML}int", _Loader.construct_yaml_int)
_Loader.add_constructor(f"{_YAML}map", _Loader.construct_yaml_map)


class Document:
    """One parsed file: its data, and the line of any field of it (``line``)."""

    def __init__(self, path: Path, data: Any, root: Any) -> None:
        self.path = path
        self.data = data
        self.root = root
        self._keys: dict[int, dict[str, tuple[Any, Any]]] = {}  # mapping node -> its scalar keys' (key, value) nodes

    def _pair(self, node: Any, key: str) -> tuple[Any, Any] | None:
        keys = self._keys.get(id(node))
        if keys is None:
            keys = self._keys[id(node)] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    keys.setdefault(k.value, (k, v))
        return keys.get(key)

    def line(self, field: FieldPath) -> int:
        """The 1-based line of the deepest node of ``field`` that exists in the file."""
        node = self.root
        if node is None:
            return 1
        line = node.start_mark.line + 1
        for part in field:
            if isinstance(node, yaml.MappingNode):
                pair = self._pair(node, str(part))
                if pair is None:
                    break
                line, node = pair[0].start_mark.line + 1, pair[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return line


def parse(path: Path, text: str, error: type[InputError] = InputError) -> Document:
    """Parse ``text`` (read from ``path``) within the limits; ``error`` with its line when it is refused."""
    if "\x00" in text:
        raise error(f"{path}:{text.count(chr(10), 0, text.index(chr(0))) + 1}: (yaml): a NUL byte: not a text file")
    loader = _Loader(text)
    try:
        root = _compose(loader, path, error)
        data = None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(" ".join(part for part in (exc.context, exc.problem) if part).split())
        raise error(f"{path}:{mark.line + 1 if mark else 1}: (yaml): {what}") from None
    except yaml.reader.ReaderError as exc:  # a control character: a position, no mark
        raise error(f"{path}:{text.count(chr(10), 0, max(exc.position, 0)) + 1}: (yaml): {exc.reason}") from None
    finally:
        loader.dispose()
    return Document(path, data, root)


def load(path: Path, error: type[InputError] = InputError, max_bytes: int = MAX_BYTES) -> Document:
    """``read_text`` then ``parse``."""
    return parse(path, read_text(path, error, max_bytes), error)


def _compose(loader: Any, path: Path, error: type[InputError]) -> Any:
    """The document's node tree, built from libyaml's events without recursion, counting as it goes:
    the depth, the nodes aliases add, explicit tags. None for an empty file."""

    def refuse(mark: Any, what: str) -> NoReturn:
        raise error(f"{path}:{mark.line + 1}: (yaml): {what}")

    loader.get_event()  # stream start
    if loader.check_event(yaml.StreamEndEvent):
        return None
    loader.get_event()  # document start
    stack: list[list[Any]] = []   # [node, size, anchor] of each open collection
    anchors: dict[str, tuple[Any, int]] = {}
    open_anchors: set[str] = set()
    added = 0
    root = None
    while True:
        event = loader.get_event()
        if isinstance(event, yaml.DocumentEndEvent):
            break
        tag = getattr(event, "tag", None)
        if tag is not None and tag != NON_SPECIFIC and tag not in CORE_TAGS:
            refuse(event.start_mark, f"tag {tag!r} is not allowed (only the YAML core schema: plain values, "
                   "lists and mappings)")
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in open_anchors:
                refuse(event.start_mark, f"alias *{event.anchor} refers to a node that contains it")
            if event.anchor not in anchors:
                refuse(event.start_mark, f"alias *{event.anchor} has no anchor &{event.anchor} before it")
            node, size = anchors[event.anchor]
            added += size
            if added > MAX_ALIAS_NODES:
                refuse(event.start_mark, f"aliases expand to more than {MAX_ALIAS_NODES} extra values")
        elif isinstance(event, yaml.ScalarEvent):
            if tag is None or tag == NON_SPECIFIC:
                tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            elif tag != f"{_YAML}str" and tag != loader.resolve(yaml.ScalarNode, event.value, (True, False)):
                refuse(event.start_mark, f"{event.value[:40]!r} is not a valid {tag.rsplit(':', 1)[-1]}")
            node, size = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style), 1
            if event.anchor is not None:
                anchors[event.anchor] = (node, size)
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if len(stack) >= MAX_DEPTH:
                refuse(event.start_mark, f"nested deeper than {MAX_DEPTH} levels")
            node_class = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode
            if tag is None or tag == NON_SPECIFIC:
                tag = loader.resolve(node_class, None, event.implicit)
            elif tag != CORE_KIND[node_class]:
                refuse(event.start_mark, f"tag {tag!r} does not fit a {node_class.id}")
            stack.append([node_class(tag, [], event.start_mark, None, flow_style=event.flow_style), 1, event.anchor])
            if event.anchor is not None:
                open_anchors.add(event.anchor)
            continue
        else:  # the end of a collection
            node, size, anchor = stack.pop()
            node.end_mark = event.end_mark
            if isinstance(node, yaml.MappingNode):
                node.value = list(zip(node.value[::2], node.value[1::2], strict=True))
            if anchor is not None:
                open_anchors.discard(anchor)
                anchors[anchor] = (node, size)
        if not stack:
            root = node
            continue
        stack[-1][0].value.append(node)
        stack[-1][1] += size
    if not loader.check_event(yaml.StreamEndEvent):
        refuse(loader.peek_event().start_mark, "a second document (---): one file holds one document")
    return root
