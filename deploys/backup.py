"""``backup``: daily dumps of every application database (from the primary) and daily archives of
every host's files to ``/var/backups/egov``; each dump is followed by a restore test into a
scratch database on the backup host's local PostgreSQL, each archive by a full read of it.

Files are pulled, never pushed: every host (role ``backup_source``, applied to all) lets the
backup hosts' SSH key run one command, ``egov-files-out``, which streams a tar of what only that
host holds (``FILES``: ``/etc``, the mailboxes, the central logs); a host cannot write to the
backup host. The key is derived from the secret ``backup_ssh_seed`` (the same on every run and
every backup host); the backup host checks the sources' host keys against the control
machine's recorded ones.

The first deploy takes the first backups, so a new platform is never without one; a host added
later gets its first archive when the backup host is next deployed (``egov node up`` does).
The dumps are read as ``egov_backup`` (``pg_read_all_data``, secret ``db_backup_password``).
Data: ``backup__retention_days``, ``backup__on_calendar`` (``inventory/defaults/services.yml``).
"""

from __future__ import annotations

import hashlib
import subprocess
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import FindFiles
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd

from deploys import data, host_name, libpq, peers, render, secret
from deploys.base import host_tls, timer
from deploys.context import deploy_context
from deploys.db import BACKUP_USER, app_databases
from deploys.facts.backup import ArchivedHosts
from egov.secrets import remember
from inventory.services import roles_of
from monitoring.targets import host_settings

# the scratch server the restore tests restore into
PACKAGES = ["postgresql-15"]

DIRECTORY = "/var/backups/egov"
FILES_OUT = "/usr/local/sbin/egov-files-out"
PULL = "/usr/local/sbin/egov-backup-files"
KEY = "/root/.ssh/egov-backup"
KNOWN_HOSTS = "/etc/egov/backup-known-hosts"
# sshd reads these besides ~/.ssh/authorized_keys (base's sshd drop-in): the toolkit's own keys
# live apart from the operators'.
AUTHORIZED_KEYS = "/etc/ssh/authorized_keys.d"

# What a host holds that neither the inventory nor the deploys can rebuild, below /, per role
# (every host has base). Databases are dumped, not copied.
# mail: the virtual mailboxes (deploys/mail.py VMAIL)
FILES: dict[str, tuple[str, ...]] = {"base": ("etc",), "mail": ("var/vmail",), "log": ("var/log/egov",)}


def backup_key() -> tuple[str, str]:
    """The backup hosts' SSH key: (private key PEM, ``ecdsa-sha2-nistp256 AAAA...``).

    Derived from the secret ``backup_ssh_seed``: every run and every backup host get the same
    bytes, so the key never shows as a change. ECDSA, because an Ed25519 key's OpenSSH file
    carries random bytes and would differ on every run.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    seed = int.from_bytes(hashlib.sha256(secret("backup_ssh_seed").encode()).digest(), "big")
    # a scalar in [1, n-1] of P-256 (n: the curve's order)
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    key = ec.derive_private_key(seed % (order - 1) + 1, ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    for line in private.splitlines():  # a diff shows the file line by line: hide each line
        if not line.startswith("-----"):
            remember(line)
    return private, public.decode()


def _known_host_lines(addresses: list[str]) -> list[str]:
    """The control machine's recorded host keys for ``addresses`` (``ssh-keygen -F`` also finds
    hashed entries); an address with none is left out, and its pull fails on the host key."""
    from egov.connection import connection_for

    inv = deploy_context().inventory
    known_hosts = connection_for(inv.path, inv.environment).known_hosts
    lines: list[str] = []
    for address in addresses:
        found = subprocess.run(["ssh-keygen", "-F", address, "-f", str(known_hosts)], capture_output=True,
                               text=True, check=False).stdout
        lines += [line for line in found.splitlines() if line and not line.startswith("#")]
    return lines


@deploy("Backup source")
def source() -> None:
    """Every host: ``egov-files-out`` streams its files; the backup hosts' key may run that alone."""
    paths = sorted({path for role in roles_of(host.data.get("egov_roles") or []) for path in FILES.get(role, ())})
    files.put(name="egov-files-out script", src=StringIO(render("backup", "egov-files-out.sh.j2", paths=paths)),
              dest=FILES_OUT, mode="750")
    pullers = [addr for name, addr in peers("backup") if name != host_name()]
    line = f'restrict,from="{",".join(pullers)}",command="{FILES_OUT}" {backup_key()[1]} egov-backup\n'
    files.directory(name="toolkit-managed authorized keys", path=AUTHORIZED_KEYS, mode="755")
    files.put(name="backup hosts may read this host's files", src=StringIO(line if pullers else ""),
              dest=f"{AUTHORIZED_KEYS}/root", mode="600")


def _pgpass_fields(db_hosts: list[str]) -> dict[str, object]:
    """What backup/pgpass.j2 writes, each field escaped as .pgpass wants it."""
    what = f"{host_name()}: the backup reader's .pgpass (secret db_backup_password)"
    return {"db_hosts": [libpq.pgpass_field(address, what) for address in db_hosts],
            "user": libpq.pgpass_field(BACKUP_USER, what),
            "password": libpq.pgpass_field(secret("db_backup_password"), what)}


@deploy("Backup")
def apply() -> None:
    db_hosts = [addr for _n, addr in peers("db")]
    databases = [db for db, _user, _clients in app_databases()]
    context = {"directory": DIRECTORY, "databases": databases, "primary": db_hosts[0] if db_hosts else "",
               "user": BACKUP_USER, "retention_days": int(data("backup__retention_days")), "scratch_port": 5432,
               "tls": libpq.verified(host_tls()[2])}
    apt.packages(name="PostgreSQL for dumps and restore tests", packages=PACKAGES)
    systemd.service(name="scratch PostgreSQL running", service="postgresql@15-main", running=True, enabled=True)
    files.directory(name="backup directory", path=DIRECTORY, mode="700")
    files.put(name="backup reader password", dest="/root/.pgpass", mode="600",
              src=StringIO(render("backup", "pgpass.j2", **_pgpass_fields(db_hosts))))
    inv = deploy_context().inventory
    sources = [(h.name, str(h.mgmt_ip)) for h in inv.hosts.values()]
    context.update(sources=[(name, "" if name == host_name() else address) for name, address in sources],
                   known_hosts=KNOWN_HOSTS, key=KEY, files_out=FILES_OUT,
                   # what the egov exporter reads for egov_backup_last_success_timestamp_seconds
                   status_file=host_settings(inv, inv.hosts[host_name()]).backup_status_file)
    files.directory(name="key directory", path="/root/.ssh", mode="700")
    files.put(name="backup key", src=StringIO(backup_key()[0]), dest=KEY, mode="600")
    files.directory(name="egov configuration directory", path="/etc/egov", mode="755")
    files.put(name="sources' host keys", dest=KNOWN_HOSTS, mode="644",
              src=StringIO("".join(f"{line}\n" for line in _known_host_lines([a for n, a in sources
                                                                               if n != host_name()]))))
    for script in ("egov-backup", "egov-restore-test", "egov-backup-files"):
        files.put(name=f"{script} script", src=StringIO(render("backup", f"{script}.sh.j2", **context)),
                  dest=f"/usr/local/sbin/{script}", mode="750")
    on_calendar = data("backup__on_calendar")
    timer("egov-backup", "Back up the platform's databases, then test a restore", "/usr/local/sbin/egov-backup",
          on_calendar)
    timer("egov-backup-files", "Pull every host's files to the backup host", "/usr/local/sbin/egov-backup-files",
          on_calendar)
    if not host.get_fact(FindFiles, path=f"{DIRECTORY}/db", fname="*.dump"):
        # the databases may still be coming up on the primary in the same run: retry a while
        systemd.service(name="first backup", service="egov-backup.service", running=True,
                        _retries=6, _retry_delay=10)
    archived = host.get_fact(ArchivedHosts, directory=DIRECTORY)
    missing = [name for name, _address in sources if name not in archived]
    if missing:
        # Only the sources already set up to be pulled (deployed: they accept the key), so a
        # re-run changes nothing while a host of the inventory is not yet provisioned; before
        # the script exists (the first deploy) every source is tried. A failed pull is logged
        # and the deploy goes on: DATA-03 reports a host without an archive.
        answer = host.get_fact(Command, command=f"test -x {PULL} && {PULL} --ready {' '.join(missing)} || echo '*'")
        ready = missing if "*" in (answer or "").split() else [n for n in (answer or "").split() if n in missing]
        if ready:
            server.shell(name="first file archives", commands=[f"{PULL} {' '.join(ready)} || true"])
