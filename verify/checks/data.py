"""Data security checks (catalogue group ``data``): private application configs, recent backups,
database connections between hosts over TLS."""

from __future__ import annotations

import ipaddress
import time

from verify.checks.base import Node, Outcome, RunsCommands, check, output


@check("app_config_private")
def app_config_private(host: RunsCommands, node: Node) -> Outcome:
    if not node.app_configs:
        return Outcome(False, "no core application is placed on this node")
    paths = [path for _app, path in sorted(node.app_configs.items())]
    # one stat for every file: a missing one is simply absent from the answer
    result = host.run("stat -c '%%n %%a %%U' " + " ".join(["%s"] * len(paths)), *paths)
    found = {name: (mode, owner) for name, mode, owner in (line.split() for line in output(result).splitlines())}
    problems: list[str] = []
    good: list[str] = []
    for path in paths:
        if path not in found:
            problems.append(f"{path} missing")
            continue
        mode, owner = found[path]
        if int(mode, 8) & 0o007:
            problems.append(f"{path} mode {mode} is readable by others")
        elif owner != "root":
            problems.append(f"{path} owned by {owner}, not root")
        else:
            good.append(f"{path} {mode}")
    if problems:
        return Outcome(False, "; ".join(problems))
    return Outcome(True, ", ".join(good))


@check("backup_recent")
def backup_recent(host: RunsCommands, node: Node, path: str = "/var/backups/egov", max_age_hours: float = 26,
                  of: str = "databases") -> Outcome:
    """Every application database (``of: databases``: ``<db>-<stamp>.dump``) or every host
    (``of: hosts``: ``<host>-<stamp>.tar.gz``) has a non-empty backup under ``path`` younger than
    ``max_age_hours``; half-written ``.part`` files do not count."""
    kinds = {"databases": (node.databases, ".dump", "dumps"), "hosts": (node.hosts, ".tar.gz", "file archives")}
    if of not in kinds:
        return Outcome(False, f"params: of: {of!r} is not one of {', '.join(kinds)}")
    names, suffix, what = kinds[of]
    if not names:
        return Outcome(False, f"the inventory gives no {of} to back up")
    result = host.run("find %s -type f -name %s -size +0 -printf '%%T@ %%f\\n'", path, f"*{suffix}")
    now = float(output(host.run("date +%s")) or time.time())
    newest: dict[str, float] = {}
    for line in output(result).splitlines():
        stamp, _, name = line.partition(" ")
        owner = name.removesuffix(suffix).rsplit("-", 1)[0]
        newest[owner] = max(newest.get(owner, 0.0), float(stamp))
    problems: list[str] = []
    good: list[str] = []
    for name in names:
        if name not in newest:
            problems.append(f"{name}: none under {path}")
            continue
        age = (now - newest[name]) / 3600
        (problems if age > max_age_hours else good).append(f"{name} {age:.1f} h")
    if problems:
        return Outcome(False, f"older than {max_age_hours} h or missing: " + "; ".join(problems))
    return Outcome(True, f"newest {what}: " + ", ".join(good))


# the server's own view: its settings and its parsed pg_hba.conf, over the local socket
PG_TLS_QUERY = ("runuser -u postgres -- psql -XAtq -F '|' -c 'show ssl' -c \"select line_number, type, "
                "coalesce(address, ''), coalesce(netmask, '') "
                "from pg_hba_file_rules where type in ('host', 'hostnossl')\"")


@check("db_remote_tls_only")
def db_remote_tls_only(host: RunsCommands, node: Node) -> Outcome:
    """PostgreSQL has TLS on and admits clients of other hosts only with ``hostssl`` lines: a
    ``host`` or ``hostnossl`` line is allowed for loopback addresses only."""
    result = host.run(PG_TLS_QUERY)
    lines = output(result).splitlines()
    if result.rc != 0 or not lines:
        return Outcome(False, f"PostgreSQL does not answer: {(result.stderr or '').strip()[:200]}")
    if lines[0] != "on":
        return Outcome(False, f"ssl is {lines[0]}")
    plain = []
    for line in lines[1:]:
        number, kind, address, _mask = [*line.split("|"), "", "", "", ""][:4]
        try:
            loopback = ipaddress.ip_address(address.split("/")[0]).is_loopback
        except ValueError:  # all, samehost, samenet, a host name: more than loopback
            loopback = False
        if not loopback:
            plain.append(f"pg_hba line {number}: {kind} {address or 'all'}")
    if plain:
        return Outcome(False, "connections without TLS from other hosts: " + "; ".join(plain))
    return Outcome(True, "ssl on; other hosts only through hostssl lines")
