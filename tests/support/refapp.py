"""The reference application started as its systemd unit starts it: Debian's own Python, one INI file."""

from __future__ import annotations

import socket
import subprocess
import time
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
