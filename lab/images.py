"""The lab's images, built here (no registry is reachable) and cached by recipe.

Three images, each tagged with the hash of its recipe so that it is rebuilt only when the
recipe changes: a Debian rootfs from debootstrap (``docker import``), the base image (systemd
as PID 1, sshd, python3) and the router image (FRRouting on top of the base).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from egov.errors import LabError
from lab.engine import Progress, _quiet, docker, run

SUITE = "bookworm"
ROOTFS_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "sudo", "iproute2", "iputils-ping",
    "procps", "ca-certificates", "netbase", "less", "kmod",
)
RECIPES = Path(__file__).parent / "images"
IMAGE_PREFIX = "egov-lab"
BUILD_LOCK = Path("/var/lib/egov-lab/.image-build.lock")
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


@dataclass(frozen=True)
class ImageBuild:
    """One image: its tag, whether this call built it, and how long that took."""

    name: str
    tag: str
    built: bool
    seconds: float


def debian_mirror(sources: tuple[Path, ...] = APT_SOURCES) -> str:
    """The Debian mirror this machine's own apt uses (the one that reaches the network here)."""
    files: list[Path] = []
    for source in sources:
        if source.is_dir():
            files.extend(sorted(source.glob("*.sources")) + sorted(source.glob("*.list")))
        elif source.is_file():
            files.append(source)
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        # deb822 (URIs: ...) and one-line (deb URI suite ...) forms; comments are ignored
        uris = re.findall(r"^URIs:\s*(\S+)", text, re.MULTILINE) + re.findall(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", text, re.MULTILINE)
        suites_ok = SUITE in text
        for uri in uris:
            if suites_ok and uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    raise LabError(f"no Debian {SUITE} mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _dir_digest(path: Path) -> str:
    """The recipe of a build context: every file's relative path and content."""
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(file.relative_to(path)).encode() + b"\0" + file.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def image_tags(mirror: str) -> dict[str, str]:
    """The tag of each image for the current recipes: ``egov-lab-<name>:<recipe hash>``."""
    rootfs = _digest(SUITE, "minbase", ",".join(ROOTFS_PACKAGES), mirror)
    base = _digest(rootfs, _dir_digest(RECIPES / "base"))
    router = _digest(base, _dir_digest(RECIPES / "router"))
    return {name: f"{IMAGE_PREFIX}-{name}:{digest}" for name, digest in
            (("rootfs", rootfs), ("base", base), ("router", router))}


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", "--format", "{{.Id}}", tag, check=False).returncode == 0


@contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time on this machine: two labs coming up together share the images."""
    BUILD_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with BUILD_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _stream(args: list[str], on_progress: Progress, what: str) -> None:
    """Run a long build step, passing each output line to the progress sink."""
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                tail = [*tail, line][-5:]
                on_progress(f"{what}: {line}")
    if proc.returncode != 0:
        raise LabError(f"{what} failed (exit {proc.returncode}): " + " | ".join(tail))


def _build_rootfs(tag: str, mirror: str, on_progress: Progress) -> None:
    if shutil.which("debootstrap") is None:
        on_progress("installing debootstrap")
        run(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "debootstrap"], timeout=600)
    with tempfile.TemporaryDirectory(prefix="egov-lab-rootfs-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "root"
        _stream(["debootstrap", "--variant=minbase", f"--include={','.join(ROOTFS_PACKAGES)}", SUITE,
                 str(root), mirror], on_progress, "debootstrap")
        on_progress(f"importing the rootfs as {tag}")
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(["docker", "import", "-c", 'CMD ["/lib/systemd/systemd"]', "-", tag],
                             stdin=tar.stdout, capture_output=True, text=True, check=False)
        tar.wait()
        if tar.returncode != 0 or imp.returncode != 0:
            raise LabError(f"docker import of the rootfs failed: {imp.stderr.strip() or 'tar failed'}")


def _build_context(name: str, tag: str, parent: str, mirror: str, on_progress: Progress) -> None:
    # --network host: the build reaches the Debian mirror the way this machine's apt does;
    # lab containers themselves only ever run on internal networks
    _stream(["docker", "build", "--network", "host", "--build-arg", f"PARENT={parent}",
             "--build-arg", f"MIRROR={mirror}", "-t", tag, str(RECIPES / name)], on_progress, f"build {name}")


def ensure_images(on_progress: Progress = _quiet, mirror: str | None = None) -> list[ImageBuild]:
    """Build whichever lab image is missing for the current recipes; cached ones are reused."""
    mirror = mirror or debian_mirror()
    tags = image_tags(mirror)
    builds: list[ImageBuild] = []
    os.environ.setdefault("DOCKER_BUILDKIT", "0")  # the engine here has no buildx
    with _build_lock():
        parent = ""
        for name, tag in tags.items():
            if image_exists(tag):
                builds.append(ImageBuild(name, tag, built=False, seconds=0.0))
            else:
                on_progress(f"building image {tag}")
                start = time.monotonic()
                if name == "rootfs":
                    _build_rootfs(tag, mirror, on_progress)
                else:
                    _build_context(name, tag, parent, mirror, on_progress)
                builds.append(ImageBuild(name, tag, built=True, seconds=round(time.monotonic() - start, 1)))
            parent = tag
    return builds
