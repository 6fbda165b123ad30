"""A stand-in TLS endpoint on loopback, for the exporter's certificate collector to probe.

Used by the exporter's unit tests and by benchmarks/monitoring.py.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _self_signed(directory: Path, common_name: str, not_before: dt.datetime, not_after: dt.datetime) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(not_before).not_valid_after(not_after).sign(key, hashes.SHA256()))
    # ssl loads a certificate chain only from files
    (directory / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(directory / "c.pem", directory / "k.pem")
    return ctx


def _handshakes(listener: socket.socket, ctx: ssl.SSLContext) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:  # the listener was shut down
            return
        try:
            with ctx.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass


@contextmanager
def self_signed_endpoint(directory: Path, common_name: str, not_before: dt.datetime,
                         not_after: dt.datetime) -> Iterator[int]:
    """The port of a TLS listener on 127.0.0.1 that completes handshakes with a self-signed certificate
    for ``common_name``, valid from ``not_before`` to ``not_after``, until the block ends.
    Its certificate and key are written to ``directory``."""
    ctx = _self_signed(directory, common_name, not_before, not_after)
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=_handshakes, args=(listener, ctx), daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        # shutdown, not only close: it wakes the thread blocked in accept()
        listener.shutdown(socket.SHUT_RDWR)
        thread.join(5)
        listener.close()
