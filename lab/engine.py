"""The Docker engine: make sure one answers, and run its CLI.

This machine has no systemd, so when ``docker info`` does not answer the daemon is started
by hand; when Debian's ``docker.io`` is not installed, apt installs it first.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from egov.errors import LabError

DOCKERD_LOG = Path("/var/log/egov-lab-dockerd.log")
ENGINE_WAIT_S = 60
# Every systemd container takes inotify instances from root's share; the kernel's default of
# 128 runs out at about 30 containers on this machine, and systemd then exits at boot
# ("Failed to allocate manager object: Too many open files"). Values as kind recommends.
HOST_LIMITS = {"fs/inotify/max_user_instances": 8192, "fs/inotify/max_user_watches": 524288}

# Memory per container right after boot, with headroom, to refuse a lab this machine cannot hold before
# creating any of it. Measured on this machine (cgroup v1 memory.usage_in_bytes: `docker stats` prints 0 B
# here): FRR routers 29 MiB each in the 198-router province lab; Debian hosts about 60 MiB before deploys.
NODE_MEMORY_MIB = {"router": 40, "host": 128}
MEMINFO = Path("/proc/meminfo")

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    """The default progress sink: library code prints nothing itself."""


def run(args: Sequence[str], check: bool = True, input_text: str | None = None,
        input_bytes: bytes | None = None, timeout: float | None = 300) -> subprocess.CompletedProcess[str]:
    """Run a command, return its output as text; a LabError naming the command when it fails and ``check``."""
    data = input_bytes if input_bytes is not None else (input_text.encode() if input_text is not None else None)
    try:
        raw = subprocess.run(list(args), input=data, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise LabError(f"{args[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(args[:4])}: no answer after {timeout} s") from None
    proc = subprocess.CompletedProcess(raw.args, raw.returncode, raw.stdout.decode(errors="replace"),
                                       raw.stderr.decode(errors="replace"))
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"{' '.join(args[:4])} failed: {detail[-1] if detail else f'exit {proc.returncode}'}")
    return proc


def docker(*args: str, check: bool = True, input_text: str | None = None, input_bytes: bytes | None = None,
           timeout: float | None = 300) -> subprocess.CompletedProcess[str]:
    return run(["docker", *args], check=check, input_text=input_text, input_bytes=input_bytes, timeout=timeout)


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return run(["docker", "info", "--format", "{{.ServerVersion}}"], check=False, timeout=30).returncode == 0


def ensure_host_limits(proc_sys: Path = Path("/proc/sys")) -> list[str]:
    """Raise the kernel limits that many systemd containers need; never lowers one. Returns what was raised."""
    raised = []
    for key, minimum in HOST_LIMITS.items():
        path = proc_sys / key
        try:
            if int(path.read_text()) < minimum:
                path.write_text(f"{minimum}\n")
                raised.append(f"{key.replace('/', '.')} raised to {minimum}")
        except OSError as exc:
            raise LabError(f"cannot raise {key.replace('/', '.')} to {minimum} (needed for systemd containers): "
                           f"{exc.strerror}") from None
    return raised


def ensure_engine(on_progress: Progress = _quiet) -> bool:
    """Make the Docker engine answer. Returns True when it had to install or start it."""
    if engine_answers():
        return False
    if shutil.which("dockerd") is None:
        on_progress("installing Debian's docker.io (no Docker engine on this machine)")
        env_run = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "docker.io"]
        proc = run(env_run, check=False, timeout=900)
        if proc.returncode != 0 or shutil.which("dockerd") is None:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["dockerd still missing"]
            raise LabError(f"cannot install docker.io with apt-get: {tail[0]}")
    on_progress(f"starting dockerd (log: {DOCKERD_LOG})")
    with DOCKERD_LOG.open("ab") as log:
        # start_new_session: the daemon outlives this command, like a service would
        subprocess.Popen(["dockerd"], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + ENGINE_WAIT_S
    while time.monotonic() < deadline:
        if engine_answers():
            return True
        time.sleep(1)
    raise LabError(f"dockerd did not answer within {ENGINE_WAIT_S} s; see {DOCKERD_LOG}")


def memory_problem(new_nodes: dict[str, int], meminfo: Path = MEMINFO) -> str | None:
    """Why this machine cannot hold ``new_nodes`` more containers (kind -> count) at ``NODE_MEMORY_MIB``
    each, by the kernel's MemAvailable; None when it can (or when /proc/meminfo cannot be read)."""
    needed = sum(NODE_MEMORY_MIB[kind] * count for kind, count in new_nodes.items())
    try:
        fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
        available = int(fields["MemAvailable"].split()[0]) // 1024
    except (OSError, KeyError, ValueError):
        return None
    if needed <= available:
        return None
    what = ", ".join(f"{count} {kind}s" for kind, count in sorted(new_nodes.items()) if count)
    return (f"{what} need about {needed} MiB ({', '.join(f'{k} {v} MiB' for k, v in NODE_MEMORY_MIB.items())}) "
            f"and this machine has {available} MiB available: free memory or bring up fewer nodes (--routers-only)")
