"""Running-configuration backups: one file per device and moment, kept in a git history.

Layout: ``<root>/<device>/<UTC timestamp>.cfg`` (0600, in a 0700 directory). File names hold only
the device name and the time, never a credential. The content is the device's configuration as
it printed it, unredacted, because a restore must send it back exactly. When ``git`` is
available the root is a repository and every run's backups are a commit, so ``git log -p <device>``
shows how a device's configuration evolved. ``<root>/.locks/`` (0700, outside the history) holds the
locks of the runs sharing the store: ``backups.lock``, under which the repository is written (two runs
would otherwise collide on git's own index lock and one abort), and a lock per device (``network.push``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

from egov.connection import lab_state_dir
from egov.errors import NetworkError
from egov.locks import FileLock
from inventory.model import Inventory

BACKUP_DIR_ENV = "EGOV_NET_BACKUPS"
STAMP = "%Y%m%dT%H%M%S.%fZ"
LOCKS = ".locks"
REPO_LOCK_WAIT = 60.0  # seconds another run's commit may take (git add and commit of its backups)


def default_root(inv: Inventory) -> Path:
    """$EGOV_NET_BACKUPS, else the lab's state directory (lab), else ./backups/network."""
    if os.environ.get(BACKUP_DIR_ENV):
        return Path(os.environ[BACKUP_DIR_ENV])
    if inv.environment == "lab":
        return lab_state_dir(inv.path) / "backups"
    return Path("backups") / "network"


class Backups:
    """The backup store of one run; safe to use from the push's worker threads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._git = shutil.which("git")
        self._new: list[Path] = []   # saved by this run, not yet recorded
        self._repo = FileLock(self.lock_dir / "backups.lock", f"the backup repository {root}")

    @property
    def lock_dir(self) -> Path:
        return self.root / LOCKS

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._git and not (self.root / ".git").exists():
            with self._repo.held(wait=REPO_LOCK_WAIT):
                if not (self.root / ".git").exists():
                    self._run_git("init", "-q")
                    with (self.root / ".git" / "info" / "exclude").open("a", encoding="utf-8") as exclude:
                        exclude.write(f"/{LOCKS}/\n")

    def _run_git(self, *args: str) -> None:
        assert self._git is not None
        # its own process group: the terminal sends Ctrl-C to the whole foreground group, and a git killed
        # mid-commit would end the push, which is to stop cleanly instead (egov.interrupt)
        subprocess.run([self._git, "-c", "user.name=egov", "-c", "user.email=egov@localhost", *args],
                       cwd=self.root, check=True, capture_output=True, process_group=0)

    def save(self, device: str, text: str) -> Path:
        """Store ``text`` as the newest backup of ``device``; returns its path. ``record`` commits it."""
        with self._lock:  # timestamps must stay unique per device across threads
            self._prepare()
            folder = self.root / device
            folder.mkdir(exist_ok=True, mode=0o700)
            path = folder / f"{datetime.now(UTC).strftime(STAMP)}.cfg"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            self._new.append(path)
            return path

    def record(self, reason: str) -> None:
        """Commit this run's new backups in one git commit (one per run or batch, not per device: git's
        index takes one writer at a time and a commit per device would serialise a parallel push), under
        the repository's lock, so that another run sharing the store waits for its turn."""
        if not self._git or not (self.root / ".git").exists():
            return
        with self._lock, self._repo.held(wait=REPO_LOCK_WAIT):
            new, self._new = self._new, []
            try:
                if new:
                    self._run_git("add", "--", *(str(path.relative_to(self.root)) for path in new))
                self._run_git("commit", "-q", "--allow-empty", "-m", reason)
            except subprocess.CalledProcessError as exc:
                raise NetworkError(f"{self.root}: git could not record the backups: "
                                   f"{exc.stderr.decode(errors='replace').strip()}") from None

    def list(self, device: str) -> list[Path]:
        """Backups of ``device``, oldest first."""
        folder = self.root / device
        return sorted(folder.glob("*.cfg")) if folder.is_dir() else []

    def find(self, device: str, ref: str | None = None) -> Path:
        """The newest backup (no ``ref``), or the one ``ref`` names: a path, a file name or a timestamp prefix."""
        if ref and Path(ref).is_file():
            return Path(ref)
        backups = self.list(device)
        matches = [p for p in backups if ref is None or p.name.startswith(ref)]
        if not matches:
            known = ", ".join(p.name for p in backups[-5:]) or "none"
            wanted = f"matching '{ref}' " if ref else ""
            raise NetworkError(f"{self.root / device}: no backup {wanted}of {device} (latest: {known})")
        return matches[-1]
