"""A real slapd for the tests, from the directory role's own cn=config (Debian's slapd, run as root
here: root's peer credentials on the ldapi socket manage it, as on a directory host)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deploys import render
from deploys.directory import admin_dn
from deploys.ldif import parse, ssha
from egov.pki import Pki

BASE = "dc=quangninh,dc=gov,dc=vn"


def installed() -> bool:
    return shutil.which("slapd") is not None or Path("/usr/sbin/slapd").exists()


def config(tmp_path: Path, providers: list[tuple[int, str]]) -> Path:
    """The role's cn=config for a slapd in ``tmp_path``: its database, pid and TLS files there, the
    certificate (for 127.0.0.1) from a CA in ``tmp_path/pki`` (``ca.crt``)."""
    issued = Pki(tmp_path / "pki").issue("directory", ["ldap.quangninh.gov.vn", "127.0.0.1"])
    tls = tmp_path / "tls"
    tls.mkdir()
    (tls / "directory.crt").write_text(issued.cert_pem)
    (tls / "directory.key").write_text(issued.key_pem)
    text = render("directory", "config.ldif.j2", base=BASE, admin_dn=admin_dn(BASE),
                  admin_hash=ssha("test-admin", admin_dn(BASE)), server_id=1, providers=providers,
                  credentials="test-admin", tls_dir=str(tls), size_limit=500, max_size=64 * 1024 * 1024)
    (tmp_path / "db").mkdir()
    text = (text.replace("/var/lib/ldap", str(tmp_path / "db")).replace("/var/run/slapd/", f"{tmp_path}/")
            # the role's slapd trusts the host's store, which holds the platform CA; this one the test CA
            .replace("/etc/ssl/certs/ca-certificates.crt", str(tmp_path / "pki" / "ca.crt")))
    path = tmp_path / "config.ldif"
    path.write_text(text)
    return path


def build(tmp_path: Path, config_ldif: Path) -> subprocess.CompletedProcess[str]:
    """What the role does before it swaps a config in: slapadd -n0 into a fresh slapd.d, then slaptest."""
    slapd_d = tmp_path / "slapd.d"
    slapd_d.mkdir()
    add = subprocess.run(["slapadd", "-q", "-n0", "-F", str(slapd_d), "-l", str(config_ldif)],
                         capture_output=True, text=True)
    if add.returncode:
        return add
    return subprocess.run(["slaptest", "-u", "-F", str(slapd_d)], capture_output=True, text=True)


@contextmanager
def running(tmp_path: Path, ldaps_port: int | None = None) -> Iterator[str]:
    """slapd from the role's config on a private ldapi socket (and ldaps on 127.0.0.1:``ldaps_port``);
    yields the ldapi URI."""
    result = build(tmp_path, config(tmp_path, []))
    assert result.returncode == 0, result.stderr
    uri = "ldapi://" + urllib.parse.quote(str(tmp_path / "ldapi"), safe="")
    urls = uri + (f" ldaps://127.0.0.1:{ldaps_port}" if ldaps_port else "")
    proc = subprocess.Popen(["slapd", "-d", "0", "-h", urls, "-F", str(tmp_path / "slapd.d")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if (tmp_path / "ldapi").exists() and (ldaps_port is None or _listens(ldaps_port)):
                break
            time.sleep(0.05)
        yield uri
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def search(uri: str) -> dict[str, dict[str, list[str]]]:
    """Every entry under the base, as root reads them (what the role's LdapEntries fact runs)."""
    out = subprocess.run(["ldapsearch", "-Q", "-Y", "EXTERNAL", "-H", uri, "-LLL", "-o", "ldif-wrap=no", "-b", BASE,
                          "(objectClass=*)", "*"], capture_output=True, text=True)
    assert out.returncode in (0, 32), out.stderr  # 32: no such object (an empty database)
    return dict(parse(out.stdout))


def modify(uri: str, ldif: str, tmp_path: Path) -> None:
    """Apply LDIF change records as root over ldapi (what the role's directory_entries runs)."""
    path = tmp_path / "changes.ldif"
    path.write_text(ldif, encoding="utf-8")
    result = subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", uri, "-f", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
