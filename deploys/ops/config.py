"""Configuration files that are checked by the service's own checker before they go live.

A stock ``files.put`` followed by a reload would leave a broken file in place and a service that
fails on its next restart. ``checked_file`` writes the new file beside the live one, has the
service's checker read it as the service would, and only then renames it into place, so an
interruption at any moment leaves the old file or the new, checked one, never an unchecked one.

The checker sees the new file at its live path without it being live: in a private mount namespace
(``unshare --mount``) a copy of the file's directory with the new file in it is bind-mounted over
the directory, and the checker runs there (an include, a relative path, a ``conf.d`` glob resolve
as they will). A checker that asks the running service instead (``check_live``: PostgreSQL's
``pg_hba_file_rules`` reads the server's own file) runs on the installed file, and a refusal puts
the old one back.

A pending reload survives an interruption: a marker (``PENDING_DIR``) is written before the rename
and removed after the reload, so a run that finds the file up to date but the marker there still
reloads (and, for ``check_live``, checks first). The side files are in a directory of this run
alone (``.egov-<run id>``, mode 0700, beside the file so the rename stays on one filesystem).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import OperationValueError, operation
from pyinfra.api.command import FileUploadCommand
from pyinfra.facts.files import File, Sha1File

from deploys.context import run_id
from deploys.ops import OperationCommands

PENDING_DIR = "/var/lib/egov/pending"
# test-only: the path whose deploy stops right after its rename, until the host's HOLD_FILE is
# removed (tests/lab/test_32_deploy_safety.py kills the deploy there)
HOLD_AFTER_RENAME_ENV = "EGOV_TEST_HOLD_AFTER_RENAME"
HOLD_FILE = "/run/egov-test-held"


def _mode(value: int | str) -> str:
    return f"{int(str(value), 8):o}"


def pending_marker(path: str) -> str:
    """Where the reload pending for ``path`` is marked (``/etc/a/b.conf`` -> ``.../etc%a%b.conf``)."""
    return f"{PENDING_DIR}/{path.strip('/').replace('/', '%')}"


def side_check(path: str, side: str, check: str) -> str:
    """``check`` run as if ``side`` were at ``path``: in a private mount namespace over a copy of
    the directory holding it; nothing outside the namespace changes."""
    directory, name = posixpath.split(path)
    q = shlex.quote
    inner = (f"scratch=$(mktemp -d) && cp -a {q(directory)}/. \"$scratch\"/ && cp -p {q(side)} \"$scratch\"/{q(name)}"
             f" && mount --bind \"$scratch\" {q(directory)} && ( {check.replace('{path}', q(path))} ); "
             f"rc=$?; rm -rf \"$scratch\"; exit $rc")
    return f"unshare --mount sh -c {q(inner)}"


@operation()
def checked_file(
    path: str,
    content: str,
    check: str | None = None,
    reload: str | None = None,
    mode: int | str = "644",
    user: str = "root",
    group: str = "root",
    check_live: bool = False,
) -> OperationCommands:
    """
    Install a configuration file once the service's checker accepts it; reload on change.

    + path: the file on the host
    + content: the whole wanted content (rendered template)
    + check: a shell command that exits 0 when the service accepts its configuration
      (``sshd -t``, ``nginx -t``, ``haproxy -c -f {path}``); ``{path}`` is replaced by ``path``
    + reload: a shell command that makes the service read the new file (run only on change, or
      when a previous run was stopped before it)
    + mode, user, group: ownership of the file
    + check_live: the checker asks the running service, so it can only check the installed file:
      install, check, and put the old file back when refused

    When the checker refuses the new file, the live file is left as it was and the operation
    fails, so the service keeps running on its last good configuration.

    **Example:**

    .. code:: python

        checked_file(
            name="Harden sshd",
            path="/etc/ssh/sshd_config.d/10-egov.conf",
            content=render("base", "sshd.conf.j2", ...),
            check="sshd -t",
            reload="systemctl reload ssh",
        )
    """
    if not path.startswith("/"):
        raise OperationValueError(f"checked_file: path must be absolute, got {path!r}")
    wanted_sha1 = hashlib.sha1(content.encode()).hexdigest()
    wanted_mode = _mode(mode)
    current = host.get_fact(File, path=path)
    marker = pending_marker(path)
    pending = bool(reload or check_live) and bool(host.get_fact(File, path=marker))
    q, m = shlex.quote(path), shlex.quote(marker)
    refused = f"echo {shlex.quote(f'egov: {path} refused by: {check}')} >&2; exit 1"

    if current and host.get_fact(Sha1File, path=path) == wanted_sha1 and (
        _mode(current["mode"]) == wanted_mode and current["user"] == user and current["group"] == group
    ):
        if not pending:
            # Same content and ownership: nothing to do (the service already runs it or was reloaded)
            host.noop(f"{path} is up to date")
            return
        # Up to date, but a run stopped between the rename and the reload: finish what it began
        if check and check_live:
            yield f"if ! ( {check.replace('{path}', q)} ); then {refused}; fi"
        if reload:
            yield reload
        yield f"rm -f {m}"
        return

    side_dir = f"{posixpath.dirname(path)}/.egov-{run_id()}"
    side = f"{side_dir}/{posixpath.basename(path)}"
    d, s = shlex.quote(side_dir), shlex.quote(side)
    # this run's own side directory, 0700, on the file's filesystem (parents made as for the file)
    yield f"mkdir -p -m 700 {d}"
    yield FileUploadCommand(StringIO(content), side, remote_temp_filename=host.get_temp_filename(side))
    yield f"chown {user}:{group} {s} && chmod {wanted_mode} {s}"
    if check and not check_live:
        yield f"if ! {side_check(path, side, check)}; then rm -rf {d}; {refused}; fi"
    if reload or check_live:
        yield f"mkdir -p {PENDING_DIR} && touch {m}"
    if check and check_live:
        old = shlex.quote(f"{side_dir}/previous")
        # keep the old file aside, install the new one, and put the old one back if refused
        yield (f"if [ -e {q} ]; then cp -p {q} {old}; fi; mv -f {s} {q}; "
               f"if ! ( {check.replace('{path}', q)} ); then "
               f"if [ -e {old} ]; then mv -f {old} {q}; else rm -f {q}; fi; rm -rf {d} {m}; {refused}; fi; "
               f"rm -rf {d}")
    else:
        yield f"mv -f {s} {q} && rm -rf {d}"
    if os.environ.get(HOLD_AFTER_RENAME_ENV) == path:
        yield (f"touch {HOLD_FILE}; i=0; while [ -e {HOLD_FILE} ] && [ $i -lt 600 ]; do sleep 0.1; "
               "i=$((i + 1)); done")
    if reload:
        yield reload
    if reload or check_live:
        yield f"rm -f {m}"
