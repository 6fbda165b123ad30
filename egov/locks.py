"""Locks between runs on the control machine: one file per resource, held with ``flock(2)``.

Why flock and not a pid file: the kernel drops the lock when its holder dies (kill -9, a crash, a
reboot), so a lock is never stale. A file a dead run left behind is simply taken over; what it
holds (pid, user, host, start time, command) only names the holder in the message a second run
gets. The files live in a 0700 directory and are 0600: they name who runs what.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import shlex
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from egov.errors import EgovError
from egov.secrets import redact


class LockHeld(EgovError):
    """Another run holds a lock this run needs (exit 1: nothing was done)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its file records it."""

    pid: int
    user: str
    host: str
    started: str
    command: str

    @classmethod
    def me(cls) -> Holder:
        return cls(pid=os.getpid(), user=getpass.getuser(), host=socket.gethostname(),
                   started=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   command=redact(shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])))

    def describe(self) -> str:
        return f"pid {self.pid} ({self.user}@{self.host}, since {self.started}: {self.command})"


def _read_holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode(errors="replace")
    try:
        return Holder(**json.loads(text)).describe()
    except (ValueError, TypeError):  # the holder is still writing it, or it is not ours
        return "another run (its lock file names no holder yet)"


class FileLock:
    """An exclusive lock on ``path`` (created 0600 in a 0700 directory), for ``what`` (a message's subject)."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None

    def acquire(self, holder: Holder, wait: float = 0.0) -> None:
        """Take the lock, waiting up to ``wait`` seconds; raises ``LockHeld`` naming the holder."""
        for folder in reversed([p for p in (self.path.parent, *self.path.parent.parents) if not p.exists()]):
            folder.mkdir(mode=0o700, exist_ok=True)  # every folder it creates private, not just the last
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    held_by = _read_holder(fd)
                    os.close(fd)
                    raise LockHeld(f"{self.what} is locked by {held_by} (lock file {self.path})") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(holder)).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # a later reader sees no holder rather than a finished one
            os.close(self._fd)          # closing drops the flock
            self._fd = None

    @contextmanager
    def held(self, holder: Holder | None = None, wait: float = 0.0) -> Iterator[None]:
        self.acquire(holder or Holder.me(), wait)
        try:
            yield
        finally:
            self.release()


@contextmanager
def all_locked(locks: Iterable[FileLock], holder: Holder | None = None) -> Iterator[None]:
    """Hold every lock, or none: a lock that is held releases the others taken so far and raises one
    ``LockHeld`` naming every holder found."""
    me = holder or Holder.me()
    with ExitStack() as stack:
        held: list[str] = []
        for lock in locks:
            try:
                stack.enter_context(lock.held(me))
            except LockHeld as exc:
                held.append(str(exc))
        if held:
            raise LockHeld("; ".join(held))
        yield
