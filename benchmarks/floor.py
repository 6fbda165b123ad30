"""The floor of a first deploy: what the same work costs done by hand, the limit an engine can approach.

Per host, one shell script over one SSH session: apt through the lab's package cache, one
``apt-get update``, every package the deploy installed in one apt transaction, then the files the
deploy wrote, unpacked from one tar stream; all hosts at once. What "the same" is comes from a
deployed host (``collect``): its manually installed packages less the bare image's, and every
regular file under ``FILE_ROOTS`` changed since the container started (the deploy's own files
and the packages' configuration; written again after the install, as the deploy writes them).
No ordering between hosts (no mirror first), no checks, no reloads: the floor is not a deploy.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deploys.ops.apt_index import UPDATE_RETRIES, UPDATE_TIMEOUT

if TYPE_CHECKING:
    from lab import Lab

FILE_ROOTS = ("/etc", "/opt", "/usr/local", "/srv")
# written by the container engine, or host keys and machine ids a bare image makes itself
SKIP_FILES = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc/machine-id", "/etc/ssh/ssh_host_")
MANUAL = "apt-mark showmanual"


@dataclass(frozen=True)
class HostWork:
    """What the deploy did on one host: packages installed by name, the files it left (a tar.gz)."""

    packages: tuple[str, ...]
    files: bytes


def bare_packages(lab: Lab, host: str) -> set[str]:
    """The packages a bare host has installed by name (read before the deploy)."""
    rc, out = lab.exec(host, MANUAL)
    if rc != 0:
        raise RuntimeError(f"{host}: {MANUAL}: {out.strip()}")
    return set(out.split())


def collect(lab: Lab, host: str, bare: set[str]) -> HostWork:
    """What a deployed ``host`` has that its bare image had not (``bare``: its packages then)."""
    rc, out = lab.exec(host, MANUAL)
    if rc != 0:
        raise RuntimeError(f"{host}: {MANUAL}: {out.strip()}")
    skip = " ".join(f"! -path {shlex.quote(p + '*')}" for p in SKIP_FILES)
    listing = (f"find {' '.join(FILE_ROOTS)} -xdev -type f -newermt @$(stat -c %Y /proc/1) {skip} 2>/dev/null"
               " | tar -czf - -T - 2>/dev/null")
    done = subprocess.run(lab.ssh_argv(host, [listing]), capture_output=True, timeout=300, check=False)
    if done.returncode not in (0, 2):  # tar: 2 when a listed file vanished meanwhile
        raise RuntimeError(f"{host}: archiving its files: {done.stderr.decode(errors='replace').strip()}")
    return HostWork(tuple(sorted(set(out.split()) - bare)), done.stdout)


def script(work: HostWork, proxy: str) -> str:
    """The floor's one script for a host: apt through ``proxy``, one transaction, then the files.
    Its ``apt-get update`` is bounded and retried as the deploy's is (``deploys/ops/apt_index.py``:
    apt can wait for good on a connection the cache closed)."""
    apt = f"apt-get -q -o Acquire::http::Proxy={shlex.quote(proxy)}"
    update = f"timeout -k 10 {UPDATE_TIMEOUT} {apt} update"
    return (f"set -e; export DEBIAN_FRONTEND=noninteractive; "
            f"{' || '.join([update] * (1 + UPDATE_RETRIES))}; "
            f"{apt} install -y {' '.join(shlex.quote(p) for p in work.packages)}; "
            "tar -xzf - -C / --overwrite")


def run(lab: Lab, works: dict[str, HostWork], proxy: str) -> tuple[float, dict[str, str]]:
    """Seconds for every host's floor script, all hosts at once; the error of each that failed."""

    def one(host: str) -> str:
        done = subprocess.run(lab.ssh_argv(host, [script(works[host], proxy)]), input=works[host].files,
                              capture_output=True, timeout=3600, check=False)
        return "" if done.returncode == 0 else done.stderr.decode(errors="replace").strip()[-300:]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, len(works))) as pool:
        errors = dict(zip(works, pool.map(one, works), strict=True))
    return time.monotonic() - started, {h: e for h, e in errors.items() if e}
