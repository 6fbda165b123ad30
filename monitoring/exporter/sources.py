"""What the exporter reads: plain functions, each returns what it could read."""

from __future__ import annotations

import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from monitoring.exporter.config import TlsEndpoint


def probe_http(url: str, timeout: float) -> tuple[bool, float]:
    """(answered 2xx, seconds taken). Never raises for network trouble."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            ok = 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        ok = False
    return ok, time.monotonic() - start


def cert_not_after(endpoint: TlsEndpoint, timeout: float) -> float | None:
    """notAfter (unix seconds) of the certificate served at the endpoint; None when no handshake.

    Verification is off on purpose: an expired or privately signed certificate must still be
    measured, not hidden behind a handshake error.
    """
    from cryptography import x509

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as sock, \
                ctx.wrap_socket(sock, server_hostname=endpoint.server_name) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    not_after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=UTC)
    return not_after.timestamp()


def read_backup_status(path: str) -> dict[str, dict[str, float]]:
    """The backup job's status file: database -> {last_success_timestamp, size_bytes?}.

    The job rewrites it after every good backup (see docs/monitoring.md):
    ``{"<database>": {"last_success_timestamp": <unix seconds>, "size_bytes": <int>}, ...}``.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must be a JSON object of database -> status")
    out: dict[str, dict[str, float]] = {}
    for db, status in data.items():
        if not isinstance(status, dict) or not isinstance(status.get("last_success_timestamp"), (int, float)):
            raise ValueError(f"{path}: {db}: needs a numeric last_success_timestamp")
        out[str(db)] = {k: float(v) for k, v in status.items() if isinstance(v, (int, float))}
    return out


def read_drift_file(path: str) -> dict[str, int]:
    """Router -> number of differing lines, as written by a periodic ``egov net diff --json``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
        raise ValueError(f"{path}: must be a JSON object of router -> number of differing lines")
    return {str(k): v for k, v in data.items()}


@dataclass
class Sources:
    """What the exporter reads; replace any of these in tests."""

    http: Callable[[str, float], tuple[bool, float]] = probe_http
    cert: Callable[[TlsEndpoint, float], float | None] = cert_not_after
    backup: Callable[[str], dict[str, dict[str, float]]] = read_backup_status
    drift: Callable[[], dict[str, int]] | None = None
