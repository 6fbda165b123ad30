"""The rolling deploy's health checks, run for real: the HTTP probe against a local server (2xx
healthy, an error status or no answer not), and the table's shape."""

from __future__ import annotations

import http.server
import subprocess
from collections.abc import Iterator

import pytest

from deploys.graph import ROLLING
from deploys.health import CHECKS, commands, http_ok
from tests.support.loopback import http_serving


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 502)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    with http_serving(_Handler) as port:
        yield f"http://127.0.0.1:{port}"


def _rc(command: str) -> int:
    return subprocess.run(["sh", "-c", command], capture_output=True, timeout=20).returncode


def test_http_probe_is_healthy_only_on_2xx(server: str) -> None:
    assert _rc(http_ok(f"{server}/healthz")) == 0
    assert _rc(http_ok(f"{server}/broken")) != 0
    assert _rc(http_ok("http://127.0.0.1:9/healthz")) != 0  # nothing listens: refused


def test_every_rolling_role_has_a_check_and_the_vip_is_filled_in() -> None:
    assert set(ROLLING) <= set(CHECKS)
    lb = commands(["lb"], "10.22.176.5")
    assert len(lb) == 2 and "https://10.22.176.5/healthz" in lb[1][1]
    assert commands(["lb"], None) == [("lb", CHECKS["lb"][0])]  # no VIP, nothing to ask it
    assert commands(["mail"], None) == []
