"""The core shared applications: document management, the one-stop-shop system, the online
public-service portal and the specialised databases.

Every ``app_*`` role of a host is deployed the same way, as a release of the reference application
(``apps/refapp``, the stand-in the lab runs for real):

- a system user and group named after the app (``docmgmt``, ...), home ``/opt/egov/<app>``;
- the release artifact ``refapp-<release>.tar.gz`` (``build_artifact``: deterministic, so an
  unchanged app uploads nothing) unpacked into ``/opt/egov/<app>/releases/<release>``, and a
  ``current`` symlink to it; the previous releases stay for a rollback by relinking;
- ``/etc/egov/<app>.ini`` (root:<app>, 0640): port and the database DSN, whose password is the
  secret ``db_<app>_password`` (the db role creates the same role and database from ``APPS``), and
  the directory its login binds to (every ``directory`` host over ldaps, the base DN);
  validated by the app itself (``--check``) before the service is restarted on it;
- the systemd unit ``egov-<app>.service``, restarted when the release or the config changes.

``APPS`` (``inventory/applications.py``) is the one table of the applications (port, proxy path,
database): the web role builds its nginx locations from ``upstreams()``, the db role its databases
from ``APPS``, ``egov verify`` the expected ports and health probes.

Data (``host.data``): ``apps__listen`` (``inventory/defaults/services.yml``; the firewall opens each
port to the web hosts only).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tarfile
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Directory
from pyinfra.operations import apt, files, server, systemd

from deploys import data, host_name, libpq, peers, render, secret
from deploys.base import host_tls
from deploys.context import deploy_context
from deploys.directory import trust_directory
from deploys.ops.config import checked_file
from egov.errors import DeployError
from inventory.applications import APPS, App
from inventory.services import APP_CONFIG_DIR, DIRECTORY_PORT, app_config_path, directory_base

REFAPP = Path(__file__).resolve().parent.parent / "apps" / "refapp"
BASE_DIR = "/opt/egov"
# python3-ldap3: the login binds to the directory (ldaps, the CA verified) without a client of our own
PACKAGES = ["python3", "python3-psycopg2", "python3-ldap3"]


def release_id() -> str:
    """``<VERSION>-<content hash>``: a changed app is a new release even if nobody bumped VERSION."""
    source = (REFAPP / "refapp.py").read_bytes()
    match = re.search(rb'^VERSION = "([^"]+)"', source, re.MULTILINE)
    if not match:
        raise DeployError(f"{REFAPP / 'refapp.py'}: no VERSION line")
    return f"{match.group(1).decode()}-{hashlib.sha256(source).hexdigest()[:10]}"


def build_artifact(out_dir: Path | None = None) -> Path:
    """Build ``refapp-<release>.tar.gz`` from ``apps/refapp`` and return its path.

    The archive is byte-for-byte reproducible (sorted names, fixed owner, times and gzip header),
    so building it again gives the same file and pyinfra uploads nothing.
    """
    out_dir = out_dir or deploy_context().work_dir()  # this run's own 0700 directory
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"refapp-{release_id()}.tar.gz"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in REFAPP.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            info = tarfile.TarInfo(str(path.relative_to(REFAPP)))
            content = path.read_bytes()
            info.size, info.mtime, info.mode = len(content), 0, 0o755 if path.suffix == ".py" else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(content))
    packed = gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)
    if not target.exists() or target.read_bytes() != packed:
        # write aside and rename: a deploy running at the same time never uploads half a file
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        partial.write_bytes(packed)
        os.replace(partial, target)
    return target


def upstreams() -> list[tuple[App, list[str]]]:
    """For the web role: every application placed in the inventory and its ``address:port`` backends."""
    out = []
    for role, app in APPS.items():
        backends = [f"{addr}:{app.port}" for _name, addr in peers(role)]
        if backends:
            out.append((app, backends))
    return out


def _dsn(app: App) -> str:
    # Every db host, and libpq picks the writable one: a promoted replica is found without a redeploy.
    hosts = [addr for _name, addr in peers("db")]
    if not hosts:
        raise DeployError(f"{host_name()}: {app.name} needs a database but the inventory has no host with role db")
    return libpq.dsn(f"{host_name()}: {app.name}'s database DSN (secret {app.secret})", host=",".join(hosts),
                     port=5432, dbname=app.name, user=app.name, password=secret(app.secret),
                     target_session_attrs="read-write", connect_timeout=3, **libpq.verified(host_tls()[2]))


def deploy_app(role: str, artifact: Path, release: str) -> None:
    """One application: user, release, config, unit, service (see the module docstring)."""
    app = APPS[role]
    home = f"{BASE_DIR}/{app.name}"
    release_dir = f"{home}/releases/{release}"
    server.group(name=f"{app.name}: group", group=app.name, system=True)
    server.user(name=f"{app.name}: system user", user=app.name, group=app.name, home=home, system=True,
                shell="/usr/sbin/nologin", create_home=False, ensure_home=False)
    files.directory(name=f"{app.name}: releases directory", path=f"{home}/releases", mode="755")
    upload = files.put(name=f"{app.name}: release artifact {release}", src=str(artifact),
                       dest=f"{home}/releases/{artifact.name}", mode="644")
    if not host.get_fact(Directory, path=release_dir):
        # unpack beside the final name and rename: a half-unpacked release is never `current`
        unpack = (f"rm -rf {release_dir}.new && mkdir -p {release_dir}.new && "
                  f"tar -xzf {home}/releases/{artifact.name} -C {release_dir}.new && "
                  f"mv {release_dir}.new {release_dir}")
        server.shell(name=f"{app.name}: unpack release {release}", commands=[unpack])
    link = files.link(name=f"{app.name}: current -> {release}", path=f"{home}/current", target=release_dir)
    config = checked_file(
        name=f"{app.name}: config with its database DSN", path=app_config_path(role), mode="640", group=app.name,
        content=render("apps", "app.ini.j2", app=app, role_name=role, listen=data("apps__listen"),
                       dsn=_dsn(app), directories=[f"ldaps://{a}:{DIRECTORY_PORT}" for _n, a in peers("directory")],
                       base=directory_base(deploy_context().inventory)),
        check=f"/usr/bin/python3 {home}/current/refapp.py --check --config {{path}}",
    )
    unit = checked_file(name=f"{app.name}: systemd unit", path=f"/etc/systemd/system/{app.unit}.service",
                        content=render("apps", "app.service.j2", app=app, home=home, config=app_config_path(role)),
                        reload="systemctl daemon-reload")
    systemd.service(name=f"{app.name}: {app.unit} running", service=f"{app.unit}.service", running=True,
                    enabled=True)
    systemd.service(name=f"{app.name}: restart on a new release or config", service=f"{app.unit}.service",
                    restarted=True,
                    _if=lambda: bool(upload.did_change() or link.did_change() or config.did_change()
                                     or unit.did_change()))


@deploy("Core applications")
def apply() -> None:
    """Deploy every ``app_*`` role of the current host (see the module docstring): the registry maps
    each of them here, and ``deploys.site.apply_host`` calls it once per host."""
    roles = [r for r in host.data.get("egov_roles") or [] if r in APPS]
    if not roles:
        return
    # the lists are fresh: base updated them in this step (and installed these in its transaction)
    apt.packages(name="apps: python3 and psycopg2", packages=PACKAGES)
    files.directory(name="apps: config directory", path=APP_CONFIG_DIR, mode="755")
    trust_directory(deploy_context().inventory)  # the login's ldaps connections verify the directory
    artifact = build_artifact()
    for role in roles:
        deploy_app(role, artifact, release_id())
