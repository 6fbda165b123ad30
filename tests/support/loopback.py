"""Loopback for the tests' real servers and stand-ins: a free port, a TCP server (a mail host, a
mirror's TLS front), an HTTP server (an API, a webhook, an apt-cacher-ng)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    """A port nothing listens on at the moment of asking (the OS's choice on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """Accept on 127.0.0.1 (a free port) until the block ends, each connection handed to ``handle``
    in a thread of its own and closed after it; yields the port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def one(conn: socket.socket) -> None:
        try:
            handle(conn)
        finally:
            conn.close()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(10)
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        server.close()


@contextmanager
def http_serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """``handler`` behind a threading HTTP server on 127.0.0.1 (a free port) until the block ends;
    yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
