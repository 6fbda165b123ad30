"""The reference application started as its systemd unit starts it: Debian's own Python, one INI file."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REFAPP = Path(__file__).resolve().parents[2] / "apps" / "refapp" / "refapp.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def start(config: Path, port: int) -> subprocess.Popen[bytes]:
    """Run the app on ``config`` and wait until it listens on 127.0.0.1:``port`` (its output: a pipe)."""
    proc = subprocess.Popen([SYSTEM_PYTHON, str(REFAPP), "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"refapp did not listen: {proc.stdout.read().decode() if proc.stdout else ''}")


def ask(port: int, path: str, body: object = None, timeout: float = 5.0) -> tuple[int, dict[str, object]]:
    """The app's status and JSON answer to a GET of ``path`` (a POST of ``body`` as JSON when given)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
