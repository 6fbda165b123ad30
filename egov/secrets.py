"""Secrets come from the environment or a 0600 file, never from the inventory or the repo.

Every value loaded here is remembered so that ``redact`` can blank it out of logs, diffs,
device session logs and reports before anything is printed or written.

Lookup order for a secret NAME (for example ``router_password``):
1. the environment variable ``EGOV_SECRET_NAME`` (upper case);
2. the secrets file given with ``--secrets`` or ``EGOV_SECRETS_FILE``: a YAML mapping of
   name to value, owned by the user and not readable by group or others (mode 0600 or 0400).
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from egov import yamlfile
from egov.errors import SecretsError

ENV_PREFIX = "EGOV_SECRET_"
FILE_ENV = "EGOV_SECRETS_FILE"
MASK = "********"
MAX_BYTES = 64 * 1024  # a secrets file holds a few passwords and keys

_known: set[str] = set()
_lock = threading.Lock()


def remember(value: str) -> None:
    """Mark a value as secret so that ``redact`` hides it (values under 4 characters are too
    common to blank out of text safely, and are refused as secrets by ``Secrets.get``)."""
    if len(value) >= 4:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    """Return ``text`` with every known secret value replaced by a mask."""
    with _lock:
        values = sorted(_known, key=len, reverse=True)
    for value in values:
        text = text.replace(value, MASK)
    return text


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
