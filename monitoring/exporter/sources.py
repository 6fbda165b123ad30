"""What the exporter reads: plain functions, each returns what it could read or raises.

HTTP health and TLS certificates are not here: Prometheus has blackbox_exporter probe them
(the multi-target pattern, ``monitoring.config.probe_jobs``); this exporter reads only what no
stock exporter can, two files the platform's own jobs write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from egov import yamlfile

# both files hold one small object per database or router: a province's few hundred fit in well under this,
# and a file that does not is refused rather than read into the exporter's memory
MAX_STATUS_BYTES = 4 * 1024 * 1024


def _read_json(path: str) -> object:
    """The JSON in a regular file of at most MAX_STATUS_BYTES (a FIFO or device would block the poller)."""
    text = yamlfile.read_text(Path(path), max_bytes=MAX_STATUS_BYTES)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from None


def read_backup_status(path: str) -> dict[str, dict[str, float]]:
    """The backup job's status file: database -> {last_success_timestamp, size_bytes?}.

    The job rewrites it after every good backup (see docs/monitoring.md):
    ``{"<database>": {"last_success_timestamp": <unix seconds>, "size_bytes": <int>}, ...}``.
    """
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must be a JSON object of database -> status")
    out: dict[str, dict[str, float]] = {}
    for db, status in data.items():
        if not isinstance(status, dict) or not isinstance(status.get("last_success_timestamp"), (int, float)):
            raise ValueError(f"{path}: {db}: needs a numeric last_success_timestamp")
        out[str(db)] = {k: float(v) for k, v in status.items() if isinstance(v, (int, float))}
    return out


def read_drift_file(path: str) -> dict[str, int]:
    """Router -> number of differing lines, as written by a periodic ``egov monitor drift``."""
    data = _read_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in data.values()):
        raise ValueError(f"{path}: must be a JSON object of router -> number of differing lines")
    return {str(k): v for k, v in data.items()}


@dataclass
class Sources:
    """What the exporter reads; replace any of these in tests."""

    backup: Callable[[str], dict[str, dict[str, float]]] = read_backup_status
    drift: Callable[[], dict[str, int]] | None = None
