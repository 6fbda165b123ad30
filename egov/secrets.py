"""Secrets come from the environment or a 0600 file, never from the inventory or the repo.

Every value loaded here is remembered so that ``redact`` can blank it out of logs, diffs,
device session logs and reports before anything is printed or written.

Lookup order for a secret NAME (for example ``router_password``):
1. the environment variable ``EGOV_SECRET_NAME`` (upper case);
2. the secrets file given with ``--secrets`` or ``EGOV_SECRETS_FILE``: a YAML mapping of
   name to value, owned by the user and not readable by group or others (mode 0600 or 0400).
"""

from __future__ import annotations

import base64
import fcntl
import html
import json
import logging
import os
import re
import secrets as pysecrets
import stat
import tempfile
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from xml.sax import saxutils

from egov import yamlfile
from egov.errors import SecretsError

ENV_PREFIX = "EGOV_SECRET_"
FILE_ENV = "EGOV_SECRETS_FILE"
MASK = "********"
# a secrets file holds the services' passwords and keys and every account's initial password:
# some 50,000 accounts of about 70 bytes a line
MAX_BYTES = 4 * 1024 * 1024

_known: set[str] = set()
_lock = threading.Lock()
_generate_lock = threading.Lock()  # gevent's cooperative lock in a deploy process (monkey-patched)
_pattern: re.Pattern[str] | None = None  # every written form of every known value, rebuilt on change


def remember(value: str) -> None:
    """Mark a value as secret so that ``redact`` hides it (values under 4 characters are too
    common to blank out of text safely, and are refused as secrets by ``Secrets.get``).

    Each line of a multi-line value is remembered too: a diff shows a key file line by line."""
    global _pattern
    parts = {value, *value.splitlines()} if "\n" in value else {value}
    new = {p for p in parts if len(p) >= 4} - _known
    if new:
        with _lock:
            _known.update(new)
            _pattern = None


def _json(value: str, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)[1:-1]


def _xml_attribute(value: str) -> str:
    # as xml.etree writes an attribute: quotes and line breaks as character references too
    return saxutils.escape(value, {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#09;"})


def _shell(value: str) -> str:
    # shlex.quote's form without its outer quotes, which a longer quoted word also holds
    return value.replace("'", "'\"'\"'")


def libpq_escape(value: str) -> str:
    """A value inside single quotes of a libpq connection string (deploys/libpq.py writes DSNs so)."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def pgpass_escape(value: str) -> str:
    """A field of a ``.pgpass`` line (deploys/libpq.py writes them so)."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _lower_hex(text: str) -> str:
    # another encoder may write %2f or \u00E9 where ours write %2F and \u00e9
    return re.sub(r"%[0-9A-F]{2}|\\u[0-9a-fA-F]{4}", lambda m: m.group().swapcase().replace("U", "u"), text)


def _jinja(value: str) -> str:
    # markupsafe's escape, which Jinja's autoescape applies: quotes as decimal references
    return saxutils.escape(value, {'"': "&#34;", "'": "&#39;"})


# Every text encoding an output channel applies: JSON (both ways of writing non-ASCII), Python's
# repr (exception messages), XML text and attributes, HTML as html.escape and Jinja write it,
# numeric character references, shell quoting, URL-encoding (path, query and form), and the
# libpq DSN and .pgpass escapes.
ENCODINGS: tuple[Callable[[str], str], ...] = (
    lambda v: _json(v, True), lambda v: _json(v, False), lambda v: repr(v)[1:-1],
    saxutils.escape, _xml_attribute, html.escape, _jinja,
    lambda v: v.encode("ascii", "xmlcharrefreplace").decode("ascii"),
    _shell, lambda v: urllib.parse.quote(v, safe=""), urllib.parse.quote, urllib.parse.quote_plus,
    libpq_escape, pgpass_escape, _lower_hex,
)


def _base64_cores(value: str) -> set[str]:
    """The base64 characters that depend only on ``value``'s bytes, at each of the three byte
    offsets it may sit at inside a longer encoded string (``user:password`` of basic auth)."""
    data = value.encode("utf-8")
    cores = set()
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * offset + data).decode("ascii")
            core = text[-(-8 * offset // 6):(8 * (offset + len(data))) // 6]
            if len(core) >= 4:
                cores.add(core)
    return cores


# what a channel wraps text that is already encoded in: JSON, repr, XML, HTML, shell quoting
OUTER = (*ENCODINGS[:7], _shell)


def written_forms(value: str) -> set[str]:
    """Every form in which ``value`` may appear in output: raw, each encoding, each encoding of
    an encoding (JSON of a shell-quoted command, HTML of a JSON document...), and base64.

    A multi-line value skips the encodings of encodings: its lines, secrets of their own (see
    ``remember``), carry them, and its thousands of forms would make the pattern slow to build."""
    first = {value} | {encode(value) for encode in ENCODINGS}
    forms = set(first)
    if "\n" not in value:
        forms |= {encode(form) for form in first - {value} for encode in OUTER}
    return {form for form in forms if len(form) >= 4} | _base64_cores(value)


def _compiled() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _known:
            _pattern = re.compile(_trie_regex({form for value in _known for form in written_forms(value)}))
        return _pattern


def _trie_regex(words: set[str]) -> str:
    """One regex matching any of ``words``, longest first, built as a prefix tree: thousands of
    forms then cost one branch per character instead of one try per form at every position."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def build(node: dict[str, Any]) -> str:
        branches = []
        for char, child in sorted(node.items()):
            if not char:
                continue
            run = re.escape(char)
            while len(child) == 1 and "" not in child:  # a chain without choices: no group per character
                (char, child), = child.items()
                run += re.escape(char)
            branches.append(run + build(child))
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body  # greedy: the longer word wins

    return build(trie)


def redact(text: str) -> str:
    """Return ``text`` with every known secret value, in any of its written forms, masked."""
    pattern = _compiled()
    return pattern.sub(MASK, text) if pattern is not None else text


def redact_data(data: Any) -> Any:
    """A copy of JSON-like ``data`` (dicts, lists, tuples, strings, scalars) with every string,
    keys included, redacted: done before the data is encoded, so no escape can hide a secret."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {redact_data(k): redact_data(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_data(v) for v in data]
    return data


class RedactingFilter(logging.Filter):
    """Blank secret values out of log records: the message, its arguments and any traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        if record.exc_info:
            # the formatter prints exc_text when it is set, so the traceback is redacted once here
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class Secrets:
    """The secrets of one run, read once from the environment and an optional file."""

    def __init__(self, path: str | Path | None = None) -> None:
        path = path or os.environ.get(FILE_ENV)
        self.path = Path(path) if path else None
        self._file: dict[str, str] = self._read_file(self.path) if self.path else {}
        for value in self._file.values():
            remember(value)
        for key, value in os.environ.items():
            if key.startswith(ENV_PREFIX):
                remember(value)

    @staticmethod
    def _read_file(path: Path) -> dict[str, str]:
        try:
            st = path.stat()
        except OSError as exc:
            raise SecretsError(f"{path}: cannot read the secrets file: {exc.strerror}") from None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretsError(
                f"{path}: the secrets file is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
                f"run: chmod 600 {path}"
            )
        # a FIFO, a device, a directory, a huge or binary file: refused before reading, with its line
        document = yamlfile.load(path, SecretsError, MAX_BYTES)
        data = document.data or {}
        if not isinstance(data, dict):
            raise SecretsError(f"{path}:{document.line(())}: (top): must be a mapping of secret name to a string value")
        for key, value in data.items():
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise SecretsError(f"{path}:{document.line((str(key),))}: {key}: must be a string value "
                                   f"(got a {type(value).__name__})")
        return {str(k): str(v) for k, v in data.items()}

    def get(self, name: str, required: bool = True) -> str | None:
        """The value of secret ``name``; a SecretsError naming where to put it when missing."""
        value = os.environ.get(ENV_PREFIX + name.upper())
        if value is None:
            value = self._file.get(name)
        if value is None:
            if not required:
                return None
            where = f" or key '{name}' in {self.path}" if self.path else f" or a secrets file (--secrets / {FILE_ENV})"
            raise SecretsError(f"secret '{name}' is not set: set {ENV_PREFIX}{name.upper()}{where}")
        if len(value) < 4:
            raise SecretsError(f"secret '{name}' is shorter than 4 characters")
        remember(value)
        return value


def add_generated(path: Path, names: Iterable[str]) -> dict[str, str]:
    """The values of ``names`` in the secrets file ``path``, each missing one generated (random,
    URL-safe, 32 characters) and added; the file is made 0600 if absent, its lines (comments too)
    kept as they were. Several processes may add at once: one at a time, each reading the last
    one's file and renaming a whole new one into place, so no reader sees a half-written file."""
    wanted = list(dict.fromkeys(names))
    path.parent.mkdir(parents=True, exist_ok=True)
    # _generate_lock first: a deploy's hosts are greenlets of one process, and one waiting in flock
    # would block the process while another, holding the flock, waits to be switched back to
    with _generate_lock, open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stored = Secrets._read_file(path) if path.exists() else {}
        new = {name: pysecrets.token_urlsafe(24) for name in wanted if name not in stored}
        if new:
            text = path.read_text() if path.exists() else ""
            fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
            with os.fdopen(fd, "w") as f:
                f.write(text if not text or text.endswith("\n") else text + "\n")
                # quoted: a value such as 1e5 or 0x1f would load as a number
                f.write("".join(f"{name}: '{value}'\n" for name, value in new.items()))
            os.replace(partial, path)
            stored.update(new)
    for name in wanted:
        remember(stored[name])
    return {name: stored[name] for name in wanted}
