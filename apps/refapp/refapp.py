#!/usr/bin/python3
"""The reference application: a tiny WSGI service that stands in for each core application.

It runs with Debian's own Python and ``python3-psycopg2`` (no virtualenv on the hosts), reads one
INI file and answers from its PostgreSQL database:

- ``GET /healthz``: 200 ``{"status": "ok", ...}`` when a ``SELECT 1`` on its database works,
  503 ``{"status": "fail", ...}`` otherwise (the error names the problem, never the password);
- ``GET /``: the app's name and version and what the database says about itself;
- ``GET /records`` and ``POST /records`` (a JSON ``{"title": ...}``): a small table the app owns,
  so a deploy can prove that writes reach the database and survive a restart;
- ``POST /login`` (a JSON ``{"user": <uid>, "password": ...}``): the province's one account, checked
  by binding to the directory as ``uid=<uid>,ou=people,<base>`` over ldaps, the platform CA
  verified (``python3-ldap3``); 200 with the person's name, 401 for a wrong user or password, 503
  when no directory server answers. The password is never logged.

Config (``--config FILE``, INI)::

    [app]
    name = app_portal
    title = Online public-service portal
    listen = 0.0.0.0
    port = 8103

    [database]
    dsn = host=10.0.0.5 port=5432 dbname=portal user=portal password=... connect_timeout=3

    [directory]
    uris = ldaps://10.0.0.7:636 ldaps://10.0.0.8:636
    base = dc=quangninh,dc=gov,dc=vn
    ca_file = /etc/ssl/certs/ca-certificates.crt
"""

from __future__ import annotations

import argparse
import configparser
import json
import logging
import re
import ssl
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import psycopg2

VERSION = "1.0.0"
MAX_BODY = 64 * 1024
MAX_IDLE = 4  # database connections kept open between requests
UID = re.compile(r"^[a-z][a-z0-9.-]{0,31}$")  # a roster's uid (inventory/roster.py)
MAX_PASSWORD = 256
SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id serial PRIMARY KEY,
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    created timestamptz NOT NULL DEFAULT now()
)
"""

log = logging.getLogger("refapp")
StartResponse = Callable[..., Any]


class ConfigError(Exception):
    """The config file is missing, unreadable or lacks a key."""


class Config:
    """What the app needs from its INI file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.parser = configparser.ConfigParser(interpolation=None)
        try:
            with open(path, encoding="utf-8") as handle:
                self.parser.read_file(handle)
        except (OSError, configparser.Error) as exc:
            raise ConfigError(f"{path}: {_scrub(str(exc))}") from None
        self.name = self._get("app", "name")
        self.title = self._get("app", "title", self.name)
        self.listen = self._get("app", "listen", "127.0.0.1")
        port = self._get("app", "port")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{path}: [app] port: '{port}' is not a TCP port")
        self.port = int(port)
        self.dsn = self._get("database", "dsn")
        # the directory is optional: an app without one has no /login
        self.directory_uris = self._get("directory", "uris", "").split()
        self.directory_base = self._get("directory", "base", "")
        self.directory_ca = self._get("directory", "ca_file", "/etc/ssl/certs/ca-certificates.crt")
        for uri in self.directory_uris:
            if not re.match(r"^ldaps://[^/:]+:\d+$", uri):
                raise ConfigError(f"{path}: [directory] uris: {uri!r} is not ldaps://HOST:PORT (TLS only)")
        if self.directory_uris and not self.directory_base:
            raise ConfigError(f"{path}: [directory] base: missing")

    def _get(self, section: str, key: str, default: str | None = None) -> str:
        value = self.parser.get(section, key, fallback=default)
        if value is None:
            raise ConfigError(f"{self.path}: [{section}] {key}: missing")
        return value


def _scrub(message: str) -> str:
    """A database error as one line without any password the DSN may carry."""
    line = message.strip().splitlines()[0] if message.strip() else "error"
    return re.sub(r"password=\S+", "password=***", line)


class App:
    """The WSGI application; one database connection per request keeps it simple and robust."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._schema_ready = False
        self._lock = threading.Lock()
        self._idle: list[Any] = []

    def _connection(self) -> Any:
        """An idle connection that still answers, else a new one. Reuse spares the database a
        backend process and an authentication per request (health probes come every few seconds)."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return psycopg2.connect(self.config.dsn)
            try:
                with conn, conn.cursor() as cur:  # the server may have closed it since (a restart)
                    cur.execute("SELECT 1")
                return conn
            except psycopg2.Error:
                conn.close()

    def _release(self, conn: Any, healthy: bool) -> None:
        with self._lock:
            if healthy and not conn.closed and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def cursor(self, schema: bool = True) -> Iterator[Any]:
        """A cursor in one transaction, on a pooled connection.

        ``schema``: create the records table first if this process has not done so yet (a
        database that was down at start gets its table on the first request after it returns).
        """
        conn = self._connection()
        healthy = False
        try:
            with conn, conn.cursor() as cur:
                if schema and not self._schema_ready:
                    with self._lock:
                        cur.execute(SCHEMA)
                        self._schema_ready = True
                yield cur
            healthy = True
        finally:
            self._release(conn, healthy)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/") or "/"
        routes: dict[tuple[str, str], Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]] = {
            ("GET", "/healthz"): self.healthz,
            ("GET", "/"): self.index,
            ("GET", "/records"): self.list_records,
            ("POST", "/records"): self.add_record,
            ("POST", "/login"): self.login,
        }
        handler = routes.get((method, path))
        if handler is None:
            known = {p for _, p in routes}
            status, body = (405, {"error": "method not allowed"}) if path in known else (404, {"error": "not found"})
        else:
            try:
                status, body = handler(environ)
            except psycopg2.Error as exc:
                log.warning("database error on %s %s: %s", method, path, _scrub(str(exc)))
                status, body = 503, {"error": "database unavailable", "detail": _scrub(str(exc))}
        payload = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
        reasons = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                   405: "Method Not Allowed", 503: "Service Unavailable"}
        start_response(f"{status} {reasons[status]}", [("Content-Type", "application/json; charset=utf-8"),
                                                       ("Content-Length", str(len(payload))),
                                                       ("Cache-Control", "no-store")])
        return [payload]

    def _base(self) -> dict[str, Any]:
        return {"app": self.config.name, "title": self.config.title, "version": VERSION}

    def healthz(self, environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            with self.cursor(schema=False) as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
        except psycopg2.Error as exc:
            return 503, {**self._base(), "status": "fail", "database": _scrub(str(exc))}
        return 200, {**self._base(), "status": "ok", "database": "ok"}

    def index(self, environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.cursor() as cur:
            cur.execute("SELECT current_database(), current_user, current_setting('server_version'), now(),"
                        " (SELECT count(*) FROM records)")
            database, user, server_version, now, records = cur.fetchone()
        return 200, {**self._base(), "database": database, "user": user, "server_version": server_version,
                     "time": now.isoformat(), "records": records}

    def list_records(self, environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.cursor() as cur:
            cur.execute("SELECT id, title, created FROM records ORDER BY id DESC LIMIT 50")
            rows = [{"id": i, "title": t, "created": c.isoformat()} for i, t, c in cur.fetchall()]
        return 200, {**self._base(), "records": rows}

    @staticmethod
    def _json_body(environ: dict[str, Any]) -> Any:
        """The request's JSON body; ValueError when it is missing, too large or not JSON."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            raise ValueError(f"a JSON body of 1..{MAX_BODY} bytes is required")
        return json.loads(environ["wsgi.input"].read(length))

    def add_record(self, environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            title = self._json_body(environ)["title"]
        except (ValueError, KeyError, TypeError):
            return 400, {"error": 'body must be JSON like {"title": "..."}'}
        if not isinstance(title, str) or not 1 <= len(title) <= 200:
            return 400, {"error": "title must be a string of 1..200 characters"}
        with self.cursor() as cur:
            cur.execute("INSERT INTO records (title) VALUES (%s) RETURNING id", (title,))
            (record_id,) = cur.fetchone()
        return 201, {**self._base(), "id": record_id, "title": title}


    def login(self, environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not self.config.directory_uris:
            return 404, {"error": "this app has no directory configured"}
        try:
            body = self._json_body(environ)
            user, password = body["user"], body["password"]
        except (ValueError, KeyError, TypeError):
            return 400, {"error": 'body must be JSON like {"user": "...", "password": "..."}'}
        # an empty password is an unauthenticated bind, which LDAP calls a success (RFC 4513 5.1.2)
        if not isinstance(user, str) or not UID.match(user) or not isinstance(password, str) \
                or not 0 < len(password) <= MAX_PASSWORD:
            return 401, {"error": "wrong user or password"}
        try:
            name = directory_bind(self.config, user, password)
        except DirectoryDown as exc:
            log.warning("login of %s: no directory server answers: %s", user, exc)
            return 503, {"error": "directory unavailable"}
        if name is None:
            log.info("login of %s refused", user)
            return 401, {"error": "wrong user or password"}
        log.info("login of %s accepted", user)
        return 200, {**self._base(), "user": user, "name": name}


class DirectoryDown(Exception):
    """No directory server of the config answers."""


def directory_bind(config: Config, user: str, password: str) -> str | None:
    """Bind as ``user`` to the first directory server that answers (ldaps, the CA verified); the
    person's name (``cn``) when the password is right, None when it is not."""
    import ldap3
    from ldap3.core.exceptions import LDAPException

    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config.directory_ca, version=ssl.PROTOCOL_TLS_CLIENT)
    servers = []
    for uri in config.directory_uris:
        host, _, port = uri.removeprefix("ldaps://").rpartition(":")
        servers.append(ldap3.Server(host, port=int(port), use_ssl=True, tls=tls, connect_timeout=3))
    dn = f"uid={user},ou=people,{config.directory_base}"
    pool = ldap3.ServerPool(servers, ldap3.FIRST, active=1, exhaust=False)
    conn = ldap3.Connection(pool, user=dn, password=password, read_only=True, receive_timeout=5, raise_exceptions=False)
    try:
        if not conn.bind():
            return None
        conn.search(dn, "(objectClass=inetOrgPerson)", search_scope=ldap3.BASE, attributes=["cn"])
        names = [str(v) for entry in conn.entries for v in entry.cn.values] if conn.entries else []
        return names[0] if names else user
    except LDAPException as exc:
        raise DirectoryDown(type(exc).__name__) from None
    finally:
        conn.unbind()


class ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per request: a slow database call never blocks /healthz for others."""

    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    """Access log lines go to the logger (journald), not to stderr as raw text."""

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="egov reference application")
    parser.add_argument("--config", required=True, help="the app's INI file")
    parser.add_argument("--check", action="store_true",
                        help="only validate the config file (the deploy runs this before a restart)")
    parser.add_argument("--version", action="version", version=VERSION)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = Config(args.config)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    if args.check:
        return 0
    app = App(config)
    try:
        with app.cursor():
            pass
    except psycopg2.Error as exc:
        # Start anyway: /healthz reports the database as failing until it comes back.
        log.warning("database not ready at start: %s", _scrub(str(exc)))
    server = make_server(config.listen, config.port, app, server_class=ThreadingServer, handler_class=QuietHandler)
    log.info("%s %s listening on %s:%d", config.name, VERSION, config.listen, config.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
