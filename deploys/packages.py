"""Every Debian package a host's roles install, so that ``base`` installs them all at once.

apt and dpkg cost per transaction more than per package (the package lists read, dpkg's database
loaded, the triggers: man-db, systemd, ldconfig...), and a host's roles each installed their own.
So ``base`` installs its packages and every role's in one transaction, and those that want none
of their recommended packages in a second (apt takes that choice per transaction), before any
role runs; each role's own ``apt.packages`` then finds its packages installed (a no-op), which
keeps a role whole when it runs alone. The lists are the role modules' own constants.

"Every role" is every role applied with base in that step (``deploys/site.apply_host`` says which):
a host's foundation step (base and the mirror, or base and the time server, ``deploys/graph.py``)
installs only theirs, so the hosts that wait for it start sooner; its main step installs the rest.
Measured on the lab's first deploy: the mirror's foundation step alone took 201 s and the time
servers' 198 s, each installing every package of its host, while the five other hosts waited.
"""

from __future__ import annotations

from collections.abc import Iterable

# roles that install their own packages, after an answer to a question the package asks on install:
# slapd would make a database of its own (dc=nodomain) unless debconf is told first (deploys/directory.py)
OWN_TRANSACTION = frozenset({"directory"})


def of_roles(roles: Iterable[str]) -> tuple[list[str], list[str]]:
    """The packages of ``roles`` (a host's, every-host roles included): those installed with their
    recommended packages, and those without; in role order, each once."""
    # the role modules import base, which calls this: imported here, not at the top
    from deploys import apps, backup, db, dns, exporters, lb, local_node, mail, mirror, monitoring, web
    from inventory.applications import APPS

    wanted = list(roles)
    table: dict[str, tuple[list[str], list[str]]] = {
        "mirror": ([*mirror.PACKAGES, *web.PACKAGES], []), "dns": (dns.PACKAGES, []), "db": (db.PACKAGES, []),
        "web": (web.PACKAGES, []), "lb": (lb.PACKAGES, []), "mail": (mail.PACKAGES, []),
        "backup": (backup.PACKAGES, []), "local_node": (local_node.PACKAGES, []),
        "monitoring": (web.PACKAGES, monitoring.PACKAGES), "exporters": ([], exporters.packages(set(wanted))),
        **{app: (apps.PACKAGES, []) for app in APPS},
    }
    full: dict[str, None] = {}
    lean: dict[str, None] = {}
    for role in wanted:
        if role in OWN_TRANSACTION:
            continue
        with_recommends, without = table.get(role, ([], []))
        full.update(dict.fromkeys(with_recommends))
        lean.update(dict.fromkeys(p for p in without if p not in full))
    return list(full), [p for p in lean if p not in full]
