"""The lab's package proxy: an apt-cacher-ng of its own per lab, bound to the lab's bridge address.

Lab nodes have no route out of the machine; apt on them goes through this proxy, whose
backend is the Debian mirror this machine's own apt uses. The cache lives in the lab's state
directory and survives ``lab down``, which makes repeated deploys fast.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

from egov.errors import LabError
from inventory.services import PACKAGE_CACHE_PORT
from lab.engine import run

SUPPORT_DIR = Path("/usr/lib/apt-cacher-ng")
SECURITY_ALIASES = "security.debian.org deb.debian.org/debian-security /debian-security"


@dataclass(frozen=True)
class Proxy:
    """Where one lab's apt-cacher-ng keeps its config, cache, log and pid."""

    root: Path
    address: IPv4Address

    @property
    def pidfile(self) -> Path:
        return self.root / "pid"

    @property
    def url(self) -> str:
        return f"http://{self.address}:{PACKAGE_CACHE_PORT}"

    def config(self, mirror: str) -> dict[str, str]:
        """The files of the config directory: the backend is the mirror that works from here."""
        conf = "\n".join([
            f"CacheDir: {self.root / 'cache'}",
            f"LogDir: {self.root / 'log'}",
            f"SupportDir: {SUPPORT_DIR}",
            f"SocketPath: {self.root / 'socket'}",
            f"PidFile: {self.pidfile}",
            f"BindAddress: {self.address}",
            f"Port: {PACKAGE_CACHE_PORT}",
            "Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian",
            f"Remap-secdeb: {SECURITY_ALIASES} ; file:backends_debian_security",
            "ReportPage: acng-report.html",
            "ExThreshold: 4",
            "",
        ])
        return {"acng.conf": conf, "backends_debian": f"{mirror}/\n",
                "backends_debian_security": f"{mirror}-security/\n"}


def running_pid(proxy: Proxy) -> int | None:
    """The pid of this lab's apt-cacher-ng, if it runs (checked against its command line)."""
    try:
        pid = int(proxy.pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if "apt-cacher-ng" in cmdline and str(proxy.root) in cmdline else None


def _listening(proxy: Proxy, tcp_table: Path = Path("/proc/net/tcp")) -> bool:
    """Whether something listens on exactly the lab's address and port (a listener on 0.0.0.0
    would answer too, but it is not this lab's proxy: then ours failed to bind)."""
    want = f"{socket.htonl(int(proxy.address)):08X}:{PACKAGE_CACHE_PORT:04X}"
    for line in tcp_table.read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == want and fields[3] == "0A":  # 0A: LISTEN
            return True
    return False


def ensure_proxy(proxy: Proxy, mirror: str) -> bool:
    """Start the lab's apt-cacher-ng unless it runs with the current config. True when started."""
    files = proxy.config(mirror)
    conf_dir = proxy.root / "conf"
    stale = any(not (conf_dir / n).is_file() or (conf_dir / n).read_text() != t for n, t in files.items())
    if running_pid(proxy) is not None and _listening(proxy) and not stale:
        return False
    stop_proxy(proxy)
    if shutil.which("apt-cacher-ng") is None:
        run(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "apt-cacher-ng"],
            timeout=600)
    for sub in ("conf", "cache", "log"):
        (proxy.root / sub).mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (conf_dir / name).write_text(text)
    run(["apt-cacher-ng", "-c", str(conf_dir)])  # it daemonizes and writes its pidfile
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if running_pid(proxy) is not None and _listening(proxy):
            return True
        time.sleep(0.2)
    stop_proxy(proxy)
    raise LabError(f"apt-cacher-ng did not listen on {proxy.url} (is another program on port {PACKAGE_CACHE_PORT}?); "
                   f"see {proxy.root / 'log'}")


def stop_proxy(proxy: Proxy) -> bool:
    """Stop the lab's apt-cacher-ng (only the one this lab started). True when one was stopped."""
    pid = running_pid(proxy)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    proxy.pidfile.unlink(missing_ok=True)
    return True
