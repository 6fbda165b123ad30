"""Is a member of a redundant group healthy? The checks a rolling deploy runs on a host after its
step, before the next member of its group is changed, and before the run (a group with no member
in service is not rolled). Plain data and functions: the runner runs them over its SSH session.

Each check is a shell command run on the member that exits 0 when healthy: the service's own
answer where it gives one (``pg_isready``, nginx's and each application's ``/healthz``), the VIP
still answering through HAProxy for the load balancers. The HTTP probe uses the host's own
``python3`` (the hosts have no curl); TLS is not verified here (``egov verify`` checks the
certificates), only that the service answers 2xx.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from inventory.applications import APPS
from inventory.services import WEB_PORT

_GET = ("import ssl, sys, urllib.request as r; "
        "r.urlopen(sys.argv[1], timeout=5, context=ssl._create_unverified_context())")


def http_ok(url: str) -> str:
    """A command that exits 0 when ``url`` answers 2xx within 5 s."""
    return f"python3 -c {shlex.quote(_GET)} {shlex.quote(url)}"


# role -> commands that must all pass; ``{vip}`` is the load balancers' VIP
CHECKS: dict[str, tuple[str, ...]] = {
    "ntp": ("systemctl is-active --quiet chrony",),
    "dns": ("systemctl is-active --quiet unbound",),
    "db": ("runuser -u postgres -- pg_isready -q",),
    # slapd answers its root DSE over the local socket (its ldaps certificate names the host, not localhost)
    "directory": ('ldapsearch -Q -LLL -Y EXTERNAL -H ldapi:/// -b "" -s base namingContexts >/dev/null',),
    "web": (http_ok(f"https://127.0.0.1:{WEB_PORT}/healthz"),),
    "lb": ("systemctl is-active --quiet haproxy keepalived", http_ok("https://{vip}/healthz")),
    **{role: (http_ok(f"http://127.0.0.1:{app.port}/healthz"),) for role, app in APPS.items()},
}


def commands(roles: Sequence[str], vip: str | None) -> list[tuple[str, str]]:
    """``(role, command)`` of every check of ``roles``, the VIP filled in (an lb check without a
    VIP is left out: there is none to answer)."""
    out = []
    for role in roles:
        for command in CHECKS.get(role, ()):
            if "{vip}" in command:
                if not vip:
                    continue
                command = command.replace("{vip}", vip)
            out.append((role, command))
    return out
