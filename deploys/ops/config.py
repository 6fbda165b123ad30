"""Configuration files that are checked by the service's own checker before it is reloaded.

A stock ``files.put`` followed by a reload would leave a broken file in place and a service
that fails on its next restart. ``checked_file`` installs the new file, runs the checker, and
puts the old file back when the checker refuses the new one, so the running service never
sees a config its checker rejected.
"""

from __future__ import annotations

import hashlib
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import OperationValueError, operation
from pyinfra.api.command import FileUploadCommand
from pyinfra.facts.files import File, Sha1File

from deploys.ops import OperationCommands


def _mode(value: int | str) -> str:
    return f"{int(str(value), 8):o}"


@operation()
def checked_file(
    path: str,
    content: str,
    check: str | None = None,
    reload: str | None = None,
    mode: int | str = "644",
    user: str = "root",
    group: str = "root",
) -> OperationCommands:
    """
    Install a configuration file; validate it with the service's checker; reload on change.

    + path: the file on the host
    + content: the whole wanted content (rendered template)
    + check: a shell command that exits 0 when the service accepts its configuration
      (``sshd -t``, ``nginx -t``, ``haproxy -c -f {path}``); ``{path}`` is replaced by ``path``
    + reload: a shell command that makes the service read the new file (run only on change)
    + mode, user, group: ownership of the file

    When the checker fails, the previous file (or no file) is restored and the operation
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

    # Same content and ownership: nothing to do (the service already runs it or was reloaded)
    if current and host.get_fact(Sha1File, path=path) == wanted_sha1 and (
        _mode(current["mode"]) == wanted_mode and current["user"] == user and current["group"] == group
    ):
        host.noop(f"{path} is up to date")
        return

    q = shlex.quote(path)
    new, old = shlex.quote(path + ".egov-new"), shlex.quote(path + ".egov-old")
    yield f"mkdir -p $(dirname {q})"
    # Upload to a side file first so a failed upload never truncates the live file
    yield FileUploadCommand(StringIO(content), path + ".egov-new",
                            remote_temp_filename=host.get_temp_filename(path + ".egov-new"))
    yield f"chown {user}:{group} {new} && chmod {wanted_mode} {new}"
    if check:
        checker = check.replace("{path}", q)
        # keep the old file aside, install the new one, and put the old one back if refused
        yield (
            f"if [ -e {q} ]; then cp -p {q} {old}; else rm -f {old}; fi; mv {new} {q}; "
            f"if ! ( {checker} ); then "
            f"if [ -e {old} ]; then mv {old} {q}; else rm -f {q}; fi; "
            f"echo {shlex.quote(f'egov: {path} refused by: {check}')} >&2; exit 1; fi; rm -f {old}"
        )
    else:
        yield f"mv {new} {q}"
    if reload:
        yield reload
