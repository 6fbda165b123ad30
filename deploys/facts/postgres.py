"""PostgreSQL facts, read as the ``postgres`` OS user over the local socket (peer auth)."""

from __future__ import annotations

from pyinfra.api import FactBase
from typing_extensions import override

PSQL = "runuser -u postgres -- psql -XAtq -F '|'"


class PgRoles(FactBase[dict[str, dict[str, object]]]):
    """Roles of the local cluster: ``{name: {"password": verifier or "", "login": bool,
    "replication": bool}}``; ``{}`` when PostgreSQL is not installed or not running."""

    @override
    def command(self) -> str:
        return (f"{PSQL} -c \"select rolname, coalesce(rolpassword, ''), rolcanlogin, rolreplication "
                f"from pg_authid\" 2>/dev/null || true")

    @override
    @staticmethod
    def default() -> dict[str, dict[str, object]]:
        return {}

    @override
    def process(self, output: list[str]) -> dict[str, dict[str, object]]:
        roles: dict[str, dict[str, object]] = {}
        for line in output:
            parts = line.split("|")
            if len(parts) == 4:
                roles[parts[0]] = {"password": parts[1], "login": parts[2] == "t", "replication": parts[3] == "t"}
        return roles


class PgDatabases(FactBase[dict[str, str]]):
    """Databases of the local cluster and their owners: ``{name: owner}``."""

    @override
    def command(self) -> str:
        return f"{PSQL} -c 'select datname, pg_get_userbyid(datdba) from pg_database' 2>/dev/null || true"

    @override
    @staticmethod
    def default() -> dict[str, str]:
        return {}

    @override
    def process(self, output: list[str]) -> dict[str, str]:
        return dict(line.split("|", 1) for line in output if "|" in line)


class PgInRecovery(FactBase[bool | None]):
    """``True`` on a streaming replica, ``False`` on a primary, ``None`` when no cluster answers."""

    @override
    def command(self) -> str:
        return f"{PSQL} -c 'select pg_is_in_recovery()' 2>/dev/null || true"

    @override
    def process(self, output: list[str]) -> bool | None:
        value = "".join(output).strip()
        return {"t": True, "f": False}.get(value)


class _PgPairs(FactBase[set[tuple[str, str]]]):
    """A query of two columns, as a set of pairs; empty when no cluster answers."""

    @override
    @staticmethod
    def default() -> set[tuple[str, str]]:
        return set()

    @override
    def process(self, output: list[str]) -> set[tuple[str, str]]:
        return {(a, b) for a, _, b in (line.partition("|") for line in output) if b}


class PgMemberships(_PgPairs):
    """``(role, member)`` pairs of role membership (``("pg_read_all_data", "egov_backup")``)."""

    @override
    def command(self) -> str:
        return (f"{PSQL} -c 'select pg_get_userbyid(roleid), pg_get_userbyid(member) from pg_auth_members' "
                f"2>/dev/null || true")


class PgConnect(_PgPairs):
    """``(database, role)`` pairs where a login role may connect (``has_database_privilege``)."""

    @override
    def command(self) -> str:
        return (f"{PSQL} -c \"select d.datname, r.rolname from pg_database d cross join pg_roles r "
                f"where r.rolcanlogin and has_database_privilege(r.oid, d.oid, 'CONNECT')\" 2>/dev/null || true")
