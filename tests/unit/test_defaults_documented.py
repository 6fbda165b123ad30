"""Every default once: each key the code reads has exactly one documented entry in
inventory/defaults/*.yml, and each entry is read somewhere."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from monitoring.settings import PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = ROOT / "inventory" / "defaults"
CODE = ("egov", "inventory", "deploys", "network", "monitoring", "verify", "lab", "commands", "workflows")
ENTRY = re.compile(r"^([a-z][a-z0-9]*__[a-z0-9_]+):")
LITERAL = re.compile(r"""["']([a-z][a-z0-9]*__[a-z0-9_]+)["']""")
TEMPLATED = re.compile(r"""\{[a-z_]+\}__([a-z0-9_]+)["']""")  # f"{prefix}__cert_file"


def _entries() -> dict[str, list[tuple[str, int, str]]]:
    """key -> [(file, line number, the line above it)] for every top-level key of every defaults file."""
    out: dict[str, list[tuple[str, int, str]]] = {}
    for file in sorted(DEFAULTS.glob("*.yml")):
        lines = file.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            if m := ENTRY.match(line):
                out.setdefault(m.group(1), []).append((file.name, n + 1, lines[n - 1] if n else ""))
    return out


def _code_files() -> list[Path]:
    files = [p for package in CODE for p in (ROOT / package).rglob("*.py")]
    return [*files, ROOT / "cli.py", *(ROOT / "templates").rglob("*.j2")]


def _read_in_code() -> tuple[set[str], set[str]]:
    """Keys named literally in code and templates (with the monitoring settings' fields), and the
    suffixes of keys built from a namespace (``f"{prefix}__cert_file"``)."""
    literal = {PREFIX + f.name for f in fields(Settings)}
    suffixes: set[str] = set()
    for path in _code_files():
        text = path.read_text(encoding="utf-8")
        literal |= set(LITERAL.findall(text))
        suffixes |= set(TEMPLATED.findall(text))
    return literal, suffixes


def test_every_default_is_in_one_file_once() -> None:
    twice = {key: places for key, places in _entries().items() if len(places) > 1}
    assert not twice, f"defined more than once: {twice}"


def test_every_default_has_a_comment_right_above_it() -> None:
    bare = [f"{file}:{line}: {key}" for key, places in _entries().items() for file, line, above in places
            if not above.startswith("# ") or above.startswith("# ----")]
    assert not bare, "entries without a comment of their own:\n" + "\n".join(bare)


def test_every_key_read_in_code_has_a_default() -> None:
    entries = set(_entries())
    literal, suffixes = _read_in_code()
    assert not literal - entries, f"read in code, no entry in inventory/defaults/: {sorted(literal - entries)}"
    assert suffixes, "the certificate keys are built from a namespace (deploys/pki.py)"
    for suffix in suffixes:
        assert any(key.endswith(f"__{suffix}") for key in entries), f"no default ends in __{suffix}"


def test_every_default_is_read_somewhere() -> None:
    literal, suffixes = _read_in_code()
    unread = [key for key in _entries() if key not in literal and key.split("__", 1)[1] not in suffixes]
    assert not unread, f"entries nothing reads: {unread}"
