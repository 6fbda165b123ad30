"""IMAPS to a mail host's address, its certificate checked against the mail name it holds (the
lab's mail host has no DNS name the control machine resolves)."""

from __future__ import annotations

import imaplib
import socket
import ssl
from typing import Any


class Imaps(imaplib.IMAP4_SSL):
    """``imaplib.IMAP4_SSL`` to ``address``:993, verifying the certificate against ``server_name``."""

    def __init__(self, address: str, server_name: str, context: ssl.SSLContext) -> None:
        self._server_name = server_name
        super().__init__(address, 993, ssl_context=context, timeout=10)

    def _create_socket(self, timeout: float | None) -> Any:
        sock = socket.create_connection((self.host, self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self._server_name)
