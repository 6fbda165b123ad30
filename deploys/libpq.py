"""Credentials as libpq's clients read them: a DSN's ``key=value`` pairs and ``.pgpass`` lines.

Rules from the PostgreSQL 15 manual: a connection string value "can be enclosed in single quotes
[...] Single quotes and backslashes within the value must be escaped with a backslash" (libpq
34.1.1); in the password file "if an entry needs to contain : or \\, escape this character with
\\" (libpq 34.16). So any password works, whatever it holds, except line breaks and NUL: the
password file is one entry per line and the app's INI file one value per line.
"""

from __future__ import annotations

from egov.errors import DeployError
from egov.secrets import libpq_escape, pgpass_escape

UNWRITABLE = {"\n": "a line break", "\r": "a carriage return", "\0": "a NUL byte"}


def _writable(value: str, what: str) -> str:
    for char, name in UNWRITABLE.items():
        if char in value:
            # the value itself stays out of the message: it is usually a password
            raise DeployError(f"{what} holds {name}, which a libpq connection string or .pgpass line cannot carry")
    return value


def dsn(what: str, **params: str | int) -> str:
    """A ``key='value' ...`` connection string, every value quoted and escaped.

    + what: names the connection in an error (``app_portal's database DSN``)
    + params: the libpq keywords (host, port, dbname, user, password, ...)

    **Example:** ``dsn("portal's DSN", host="10.0.0.5", port=5432, password=secret("db_portal_password"))``
    """
    return " ".join(f"{key}='{libpq_escape(_writable(str(value), f'{what}: {key}'))}'"
                    for key, value in params.items())


def verified(ca_file: str) -> dict[str, str]:
    """libpq's keywords for a connection to another host: TLS, the server's certificate checked
    against ``ca_file`` and its name against the host connected to (``verify-full``, libpq 34.19)."""
    return {"sslmode": "verify-full", "sslrootcert": ca_file}


def pgpass_field(value: str | int, what: str) -> str:
    """One ``.pgpass`` field (host, port, database, user or password) with ``:`` and ``\\`` escaped."""
    return pgpass_escape(_writable(str(value), what))
