"""TLS and basic auth for the egov exporter, from the host's exporter-toolkit web config.

Every Prometheus exporter on a host reads one ``--web.config.file`` (``monitoring/webconfig.py``);
prometheus_client's own server has neither TLS (Debian 12 ships 0.16) nor authentication, so the
egov exporter serves its registry through this small WSGI server that reads the same file:
``tls_server_config.cert_file``/``key_file`` and ``basic_auth_users`` (bcrypt hashes, checked with
python3-bcrypt). Like the toolkit it picks up a changed file without a restart: the users when the
file changes, the certificate when its files do. A password once verified is remembered (by its
SHA-256, in memory) so a scrape every few seconds does not pay for bcrypt each time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from egov import yamlfile
from egov.errors import MonitoringConfigError

log = logging.getLogger(__name__)
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
HANDSHAKE_TIMEOUT = 10.0


@dataclass(frozen=True)
class WebConfig:
    cert_file: str
    key_file: str
    users: dict[str, str] = field(default_factory=dict)  # name -> bcrypt hash


def load_web_config(path: str | Path) -> WebConfig:
    """The parts of an exporter-toolkit web config the egov exporter serves by; an error names the file and key."""
    data = yamlfile.load(Path(path), MonitoringConfigError).data or {}
    tls = data.get("tls_server_config") if isinstance(data, dict) else None
    users = data.get("basic_auth_users") or {} if isinstance(data, dict) else {}
    if not isinstance(tls, dict) or not tls.get("cert_file") or not tls.get("key_file"):
        raise MonitoringConfigError(f"{path}: tls_server_config needs cert_file and key_file")
    if not isinstance(users, dict) or not users or not all(isinstance(v, str) and v.startswith("$2")
                                                           for v in users.values()):
        raise MonitoringConfigError(f"{path}: basic_auth_users must map each user to a bcrypt hash")
    return WebConfig(str(tls["cert_file"]), str(tls["key_file"]), {str(k): str(v) for k, v in users.items()})


def _mtime(*paths: str) -> tuple[float, ...]:
    return tuple(os.stat(p).st_mtime for p in paths)


class WebAuth:
    """The web config of ``path``, re-read when it changes: who may ask, and the TLS context."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._config_mtime: tuple[float, ...] = ()
        self._cert_mtime: tuple[float, ...] = ()
        self._config = load_web_config(self.path)
        self._context: ssl.SSLContext | None = None
        self._verified: dict[tuple[str, bytes], str] = {}

    def _current(self) -> WebConfig:
        with self._lock:
            mtime = _mtime(self.path)
            if mtime != self._config_mtime:
                self._config, self._config_mtime, self._verified = load_web_config(self.path), mtime, {}
            return self._config

    def context(self) -> ssl.SSLContext:
        config = self._current()
        with self._lock:
            mtime = _mtime(config.cert_file, config.key_file)
            if self._context is None or mtime != self._cert_mtime:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                context.load_cert_chain(config.cert_file, config.key_file)
                self._context, self._cert_mtime = context, mtime
            return self._context

    def allows(self, header: str) -> bool:
        """Whether an ``Authorization`` header names a user of the web config with its password."""
        import bcrypt

        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        hashed = self._current().users.get(user)
        if not sep or hashed is None:
            return False
        key = (user, hashlib.sha256(password.encode()).digest())
        if hmac.compare_digest(self._verified.get(key, ""), hashed):
            return True
        if bcrypt.checkpw(password.encode(), hashed.encode()):
            self._verified[key] = hashed
            return True
        return False


def with_auth(app: WSGIApp, auth: WebAuth) -> WSGIApp:
    """``app`` for the users of the web config only: 401 with a Basic challenge for anyone else."""
    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not auth.allows(environ.get("HTTP_AUTHORIZATION", "")):
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="egov exporter"'),
                                                ("Content-Type", "text/plain")])
            return [b"Unauthorized\n"]
        return app(environ, start_response)
    return guarded


class _TLSServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    auth: WebAuth

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        sock.settimeout(HANDSHAKE_TIMEOUT)
        # the handshake happens on the first read, in the request's own thread: a slow or plain
        # client (refused by TLS) never holds up the others
        return self.auth.context().wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, OSError) as exc:  # a client that speaks no TLS, or leaves mid-handshake
            log.debug("%s: %s", self.address_string(), exc)


def serve_tls(app: WSGIApp, host: str, port: int, web_config: str | Path) -> WSGIServer:
    """Serve ``app`` over TLS to the web config's users, in a daemon thread; returns the server."""
    auth = WebAuth(web_config)
    auth.context()  # a bad certificate or key fails now, not at the first scrape
    server = make_server(host, port, with_auth(app, auth), server_class=_TLSServer, handler_class=_QuietHandler)
    server.auth = auth
    threading.Thread(target=server.serve_forever, name="egov-exporter-https", daemon=True).start()
    return server
