"""``exporters`` (every host): node_exporter everywhere, postgres_exporter on database hosts, and
the egov exporter (the package ``monitoring/exporter/``) on monitoring hosts (applications, certificates,
document exchange, router drift) and backup hosts (age of the last good backup).

All from Debian's packages; the egov exporter is shipped as its source, the package directory
and the few modules it imports from outside it (it needs only python3-prometheus-client,
python3-yaml and python3-bcrypt for its web config's hashes), into ``/opt/egov-exporter`` and run with ``python3 -m``.
Its configuration is generated from the inventory (``monitoring.config.exporter_config``) and
checked by the exporter's own loader before the service is restarted on it.

Every endpoint serves HTTPS with the host's certificate to the users of the host's web config
(``monitoring/webconfig.py``: ``prometheus``, and ``oncall`` on monitoring hosts), written here
because every host has this role and it runs before ``monitoring``.

Data (``host.data``): ``egov_roles``, ``egov_inventory`` and the ``monitoring__*`` ports.
"""

from __future__ import annotations

import functools
from io import StringIO
from pathlib import Path
from typing import Any

import yaml
from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import FileContents
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from deploys import host_name, render, secret
from deploys.base import KEY_GROUP, host_tls
from deploys.context import deploy_context
from deploys.ops.config import checked_file
from monitoring.webconfig import ONCALL_USER, SCRAPE_USER, SECRETS, WEB_CONFIG, web_config

REPO = Path(__file__).resolve().parent.parent
CODE_DIR = "/opt/egov-exporter"
CONFIG = "/etc/egov/exporter.yml"
# The egov exporter, as it sits in the repo and on the host: its package, shipped as a directory
# (a module added or removed there is added or removed on the host), and the modules of ours it
# imports from outside the package (a unit test fails when it imports one more).
EXPORTER_PACKAGE = "monitoring/exporter"
EXPORTER_SUPPORT = ("egov/__init__.py", "egov/errors.py", "egov/yamlfile.py", "monitoring/__init__.py")
# Bytecode is never shipped, and what the configuration check (run as root) writes on the host
# is left alone.
BYTECODE = "*.pyc"
PYCACHE = "__pycache__"
# files.sync's arguments for the package, shared by the deploy and its unit test.
PACKAGE_SYNC: dict[str, Any] = {"src": str(REPO / EXPORTER_PACKAGE), "dest": f"{CODE_DIR}/{EXPORTER_PACKAGE}",
                                "mode": "644", "dir_mode": "755", "delete": True, "exclude": BYTECODE,
                                "exclude_dir": [PYCACHE, f"*/{PYCACHE}"]}
EXPORTER_PACKAGES = ["python3", "python3-prometheus-client", "python3-yaml", "python3-bcrypt"]
NODE_PACKAGES = ["prometheus-node-exporter"]
# the hosts whose egov exporter reads what they hold (the monitoring state, the backups)
EGOV_EXPORTER_ROLES = {"monitoring", "backup"}
# postgresql-common creates the postgres user the exporter runs as
POSTGRES_PACKAGES = ["postgresql-common", "prometheus-postgres-exporter"]
# bcrypt's cost for the web config's hashes: each check costs the exporters some 50 ms, once per
# password (the toolkit caches a verified one), and a 10-round hash still resists offline guessing
BCRYPT_ROUNDS = 10
# promtool comes with the monitoring role, after this one on a monitoring host's first deploy
WEB_CONFIG_CHECK = "! command -v promtool >/dev/null || promtool check web-config {path} >/dev/null"
PG_QUERIES = "/etc/prometheus/postgres-queries.yml"
DAEMON_RELOAD = "systemctl daemon-reload"


def exporter_files() -> list[str]:
    """Every file the egov exporter's host gets, relative to the repo and to ``CODE_DIR``."""
    package = sorted(path.relative_to(REPO).as_posix() for path in (REPO / EXPORTER_PACKAGE).rglob("*")
                     if path.is_file() and PYCACHE not in path.parts and not path.match(BYTECODE))
    return [*EXPORTER_SUPPORT, *package]


def _settings():  # type: ignore[no-untyped-def]
    from monitoring.targets import host_settings

    inv = deploy_context().inventory
    return inv, inv.hosts[host_name()], host_settings(inv, inv.hosts[host_name()])


@deploy("Exporters")
def apply() -> None:
    inv, me_host, s = _settings()
    roles = set(me_host.roles)

    apt.packages(name="node_exporter", packages=NODE_PACKAGES, no_recommends=True)
    _web_config([SCRAPE_USER, *([ONCALL_USER] if "monitoring" in roles else [])])
    checked_file(name="node_exporter settings", path="/etc/default/prometheus-node-exporter",
                 content=render("exporters", "node-exporter.default.j2", port=s.node_exporter_port,
                                web_config=WEB_CONFIG),
                 reload="systemctl restart prometheus-node-exporter")
    systemd.service(name="node_exporter running", service="prometheus-node-exporter", running=True, enabled=True)

    if "db" in roles:
        _postgres_exporter(s.postgres_exporter_port)
    if roles & EGOV_EXPORTER_ROLES:
        _egov_exporter(inv, me_host)


# bcrypt costs 50 ms a call by design, and a deploy prepares each host up to three times (the
# fact rehearsals, then for real): each answer once per process. One new hash per host and
# password, so every preparation of the host writes the same file.
@functools.cache
def _matches(password: bytes, hashed: bytes) -> bool:
    import bcrypt

    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # not a bcrypt hash
        return False


@functools.cache
def _new_hash(host: str, password: bytes) -> str:
    import bcrypt

    return bcrypt.hashpw(password, bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def _web_config(users: list[str]) -> None:
    """The host's web config: its certificate, and a bcrypt hash of each user's password (secret
    ``monitoring_<user>_password``). A hash already on the host is kept while it matches the
    password: a fresh salt every run would rewrite the file every run."""
    # the package's user (node_exporter, the egov exporter, Prometheus) reads the host's key; on a
    # fresh host the user appears only when the package installs, after the facts are read
    if KEY_GROUP not in (host.get_fact(Command, command="id -nG prometheus 2>/dev/null || true") or "").split():
        server.shell(name="prometheus may read the host key", commands=[f"adduser --quiet prometheus {KEY_GROUP}"])
    current = yaml.safe_load("\n".join(host.get_fact(FileContents, path=WEB_CONFIG) or [])) or {}
    old = current.get("basic_auth_users") if isinstance(current, dict) else None
    hashes: dict[str, str] = {}
    for user in users:
        password = secret(SECRETS[user]).encode()
        kept = old.get(user) if isinstance(old, dict) else None
        valid = isinstance(kept, str) and _matches(password, kept.encode())
        hashes[user] = str(kept) if valid else _new_hash(host_name(), password)
    cert, key, _ca = host_tls()
    # read on every request by each exporter: no restart when it changes
    checked_file(name="exporters: TLS and who may ask", path=WEB_CONFIG, group=KEY_GROUP, mode="640",
                 content=web_config(cert, key, hashes), check=WEB_CONFIG_CHECK)


def packages(roles: set[str]) -> list[str]:
    """The packages (none of their recommended ones) the exporters of a host with ``roles`` need."""
    return [*NODE_PACKAGES, *(POSTGRES_PACKAGES if "db" in roles else []),
            *(EXPORTER_PACKAGES if roles & EGOV_EXPORTER_ROLES else [])]


def _postgres_exporter(port: int) -> None:
    # this role runs before the db role, which then installs the server itself
    apt.packages(name="postgres_exporter", packages=POSTGRES_PACKAGES, no_recommends=True)
    queries = files.put(name="postgres_exporter replication queries", dest=PG_QUERIES,
                        src=StringIO(render("exporters", "postgres-queries.yml")), mode="644")
    dropin = files.put(name="postgres_exporter runs as postgres",
                       dest="/etc/systemd/system/prometheus-postgres-exporter.service.d/egov.conf",
                       src=StringIO(render("exporters", "postgres-exporter-user.conf")), create_remote_dir=True)
    settings = files.put(name="postgres_exporter settings", dest="/etc/default/prometheus-postgres-exporter",
                         src=StringIO(render("exporters", "postgres-exporter.default.j2",
                                             port=port, queries=PG_QUERIES, web_config=WEB_CONFIG)),
                         mode="644")
    systemd.service(name="postgres_exporter restarted on change", service="prometheus-postgres-exporter",
                    restarted=True, daemon_reload=True, _if=any_changed(queries, dropin, settings))
    systemd.service(name="postgres_exporter running", service="prometheus-postgres-exporter", running=True,
                    enabled=True)


def _egov_exporter(inv, me_host) -> None:  # type: ignore[no-untyped-def]
    from monitoring.config import dump_yaml, exporter_config

    apt.packages(name="egov exporter dependencies", packages=EXPORTER_PACKAGES, no_recommends=True)
    code = [files.put(name=f"egov exporter {rel}", src=str(REPO / rel), dest=f"{CODE_DIR}/{rel}", mode="644",
                      create_remote_dir=True) for rel in EXPORTER_SUPPORT]
    code.append(files.sync(name=f"egov exporter {EXPORTER_PACKAGE}/", **PACKAGE_SYNC))
    check = f"PYTHONPATH={CODE_DIR} python3 -m monitoring.exporter --check --config {{path}}"
    config = checked_file(name="egov exporter configuration", path=CONFIG, group="prometheus", mode="640",
                          content=dump_yaml(exporter_config(inv, me_host)), check=check)
    unit = files.put(name="egov exporter unit", dest="/etc/systemd/system/egov-exporter.service",
                     src=StringIO(render("exporters", "egov-exporter.service.j2", code_dir=CODE_DIR, config=CONFIG)))
    systemd.service(name="egov exporter restarted on change", service="egov-exporter", restarted=True,
                    daemon_reload=True, _if=any_changed(unit, config, *code))
    systemd.service(name="egov exporter running", service="egov-exporter", running=True, enabled=True)
