"""PostgreSQL roles and databases, idempotent, without ever sending a password in clear.

A role's password is set as a SCRAM-SHA-256 verifier computed here; the role is up to date when
its stored verifier accepts the wanted password, so a second run sends nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shlex

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.server import Command

from deploys.facts.postgres import PSQL, PgConnect, PgDatabases, PgMemberships, PgRoles
from deploys.ops import OperationCommands
from egov.secrets import remember

ITERATIONS = 4096


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The ``SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`` string PostgreSQL stores."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


def verifier_matches(verifier: str, password: str) -> bool:
    """Whether a stored SCRAM verifier was made from ``password`` (recomputed with its own salt)."""
    try:
        method, rest = verifier.split("$", 1)
        params, _keys = rest.split("$", 1)
        iterations, salt = params.split(":", 1)
        if method != "SCRAM-SHA-256":
            return False
        return hmac.compare_digest(verifier, scram_verifier(password, base64.b64decode(salt), int(iterations)))
    except ValueError:
        return False


def _sql(statement: str) -> str:
    return f"{PSQL} -c {shlex.quote(statement)}"


@operation()
def role(role: str, password: str, replication: bool = False) -> OperationCommands:
    """
    A login role whose password is ``password``.

    + role: role name (a plain identifier)
    + password: the wanted password; only its SCRAM verifier leaves this machine
    + replication: whether the role may stream WAL (the replica's user)

    **Example:**

    .. code:: python

        role(name="role portal", role="portal", password=secret("db_portal_password"))
    """
    current = host.get_fact(PgRoles).get(role)
    wanted_flags = f"LOGIN {'REPLICATION' if replication else 'NOREPLICATION'}"
    if current and verifier_matches(str(current["password"]), password) and current["replication"] == replication \
            and current["login"]:
        host.noop(f"role {role} is up to date")
        return
    verifier = scram_verifier(password)
    remember(verifier)  # a verifier is not the password, but it still never goes into a report
    verb = "ALTER" if current else "CREATE"
    yield _sql(f"{verb} ROLE \"{role}\" {wanted_flags} PASSWORD '{verifier}'")


@operation()
def database(database: str, owner: str) -> OperationCommands:
    """
    A database owned by ``owner``, closed to PUBLIC (only its owner connects).

    + database: database name
    + owner: the role that owns it

    **Example:**

    .. code:: python

        database(name="database portal", database="portal", owner="portal")
    """
    name = database
    current = host.get_fact(PgDatabases).get(name)
    if current == owner:
        host.noop(f"database {name} exists, owned by {owner}")
        return
    if current is None:
        yield f"runuser -u postgres -- createdb -O {shlex.quote(owner)} {shlex.quote(name)}"
        yield _sql(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC')
    else:
        yield _sql(f'ALTER DATABASE "{name}" OWNER TO "{owner}"')



@operation()
def grant_role(role: str, member: str) -> OperationCommands:
    """
    Make ``member`` a member of ``role`` (``GRANT role TO member``).

    + role: the granted role (``pg_read_all_data``)
    + member: the role that receives it

    **Example:**

    .. code:: python

        grant_role(name="backup reads all", role="pg_read_all_data", member="egov_backup")
    """
    if (role, member) in host.get_fact(PgMemberships):
        host.noop(f"{member} is a member of {role}")
        return
    yield _sql(f'GRANT "{role}" TO "{member}"')


@operation()
def grant_connect(database: str, role: str) -> OperationCommands:
    """
    Let ``role`` connect to ``database`` (databases are closed to PUBLIC by ``database``).

    + database: the database
    + role: the login role (the backup reader)

    **Example:**

    .. code:: python

        grant_connect(name="backup connects to portal", database="portal", role="egov_backup")
    """
    if (database, role) in host.get_fact(PgConnect):
        host.noop(f"{role} may connect to {database}")
        return
    yield _sql(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')


@operation()
def setting(setting: str, value: str) -> OperationCommands:
    """
    Set a server setting with ``ALTER SYSTEM`` (``postgresql.auto.conf``, where ``pg_basebackup -R``
    writes a replica's ``primary_conninfo``) and reload, when ``SHOW`` differs.

    + setting: a setting the server applies on reload
    + value: its text, as ``SHOW`` prints it

    **Example:**

    .. code:: python

        setting(name="replica over TLS", setting="primary_conninfo", value="host='10.22.146.12' sslmode='verify-full'")
    """
    current = host.get_fact(Command, command=f"{PSQL} -c {shlex.quote(f'show {setting}')} 2>/dev/null || true")
    if (current or "").strip() == value:
        host.noop(f"{setting} is up to date")
        return
    literal = value.replace("'", "''")
    yield _sql(f"ALTER SYSTEM SET {setting} = '{literal}'")
    yield _sql("SELECT pg_reload_conf()")
