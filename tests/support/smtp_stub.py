"""A stand-in mail host on loopback: SMTP with STARTTLS (RFC 3207), for a real Alertmanager to deliver to.

It speaks what a Go ``net/smtp`` client needs (EHLO, STARTTLS, MAIL, RCPT, DATA, QUIT), offers
no AUTH, and keeps every message it was given. The certificate is the caller's (the lab CA's
``mail`` certificate), so the client's name verification is the real one.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.loopback import serving


@dataclass
class Mailbox:
    """What the stub received: each message's envelope and data, in order."""

    messages: list[dict[str, str | list[str]]] = field(default_factory=list)


def _session(conn: socket.socket, context: ssl.SSLContext, box: Mailbox) -> None:
    sock: socket.socket = conn
    reader = sock.makefile("rb")
    tls = False

    def send(line: str) -> None:
        sock.sendall(line.encode() + b"\r\n")

    send("220 mail.stub ESMTP")
    sender, rcpts = "", []
    while True:
        raw = reader.readline()
        if not raw:
            return
        verb = raw.decode(errors="replace").strip().split(" ")[0].upper()
        if verb in ("EHLO", "HELO"):
            send("250-mail.stub" if not tls else "250-mail.stub tls")
            send("250 STARTTLS" if not tls else "250 8BITMIME")
        elif verb == "STARTTLS" and not tls:
            send("220 ready")
            sock = context.wrap_socket(sock, server_side=True)
            reader, tls = sock.makefile("rb"), True
        elif verb == "MAIL":
            sender = raw.decode().strip()[len("MAIL FROM:"):]
            send("250 ok")
        elif verb == "RCPT":
            rcpts.append(raw.decode().strip()[len("RCPT TO:"):])
            send("250 ok")
        elif verb == "DATA":
            send("354 go on")
            data = []
            while (line := reader.readline()) not in (b".\r\n", b""):
                data.append(line.decode(errors="replace"))
            box.messages.append({"from": sender, "to": rcpts, "data": "".join(data), "tls": str(tls)})
            sender, rcpts = "", []
            send("250 queued")
        elif verb == "QUIT":
            send("221 bye")
            return
        else:
            send("250 ok")


@contextmanager
def smtp_starttls(cert: Path, key: Path) -> Iterator[tuple[int, Mailbox]]:
    """Listen on 127.0.0.1 (a free port) until the block ends; yields (port, what arrived)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox()

    def serve_one(conn: socket.socket) -> None:
        try:
            _session(conn, context, box)
        except (OSError, ssl.SSLError):
            pass  # a client that gave up on the certificate hangs up mid-handshake

    with serving(serve_one) as port:
        yield port, box
