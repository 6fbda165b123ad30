"""The lab's internal certificate authority: a CA and one certificate per service.

Production uses real certificates by path (``web__cert_file``/``web__key_file``, ``mail__cert_file``
...); a lab has none, so the toolkit makes its own CA in the lab state directory (``<state>/pki``,
or the directory given to ``Pki``), outside the repository. Private keys are written 0600.
Certificates are reused while their names match and they have more than 30 days left, so a second
deploy uploads nothing.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyinfra.operations import files, server

from egov.errors import DeployError
from inventory import services

if TYPE_CHECKING:
    from inventory.model import Inventory

CA_DAYS = 3650
CERT_DAYS = 397
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key as PEM text, and the CA certificate that signed it."""

    cert_pem: str
    key_pem: str
    ca_pem: str


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class Pki:
    """A CA kept in ``directory`` (created 0700)."""

    def __init__(self, directory: Path, org: str = "egov-infra lab") -> None:
        self.dir = directory
        self.org = org

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # the deploy's steps run in several processes at once: one of them makes the CA or a
        # certificate while the others wait, then find it made
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.dir / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        with self._locked():
            return self._ca_unlocked()

    def _ca_unlocked(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        cert_path, key_path = self.dir / "ca.crt", self.dir / "ca.key"
        if cert_path.exists() and key_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise DeployError(f"{key_path}: not an EC private key")
            return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.org),
                          x509.NameAttribute(NameOID.COMMON_NAME, f"{self.org} CA")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=CA_DAYS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        _write_private(key_path, _key_pem(key))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert, key

    def ca_pem(self) -> str:
        """The CA's certificate (PEM), made on first use."""
        return self._ca()[0].public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, service: str, names: list[str], client_auth: bool = False) -> Issued:
        """The certificate of ``service`` for DNS names/IP addresses ``names`` (first is the CN);
        ``client_auth``: also a TLS client's (a host's own certificate, which it shows its peers)."""
        if not names:
            raise DeployError(f"pki: certificate {service} needs at least one name")
        with self._locked():
            return self._issue(service, names, client_auth)

    def _issue(self, service: str, names: list[str], client_auth: bool) -> Issued:
        ca_cert, ca_key = self._ca_unlocked()
        ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
        cert_path, key_path = self.dir / f"{service}.crt", self.dir / f"{service}.key"
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, *([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])]
        sans: list[x509.GeneralName] = []
        for n in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        if cert_path.exists() and key_path.exists():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            current = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            fresh = cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > RENEW_BEFORE
            eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
            if fresh and set(current) == set(sans) and cert.issuer == ca_cert.subject and eku == set(usages):
                return Issued(cert_path.read_text(), key_path.read_text(), ca_pem)
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.org),
                                         x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                .sign(ca_key, hashes.SHA256()))
        _write_private(key_path, _key_pem(key))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return Issued(cert_path.read_text(), key_path.read_text(), ca_pem)


def certificate(service: str, names: list[str], prefix: str, client_auth: bool = False) -> Issued:
    """For a deploy: ``<prefix>__cert_file``/``<prefix>__key_file`` from host data when set
    (production: real certificates by path), else one issued by the lab's CA.

    + service: the certificate's file name in the lab CA (``web``, ``mail``)
    + names: DNS names and addresses it must cover (lab only)
    + prefix: the role's data namespace
    + client_auth: the certificate also identifies the host as a TLS client (lab only)
    """
    from deploys import data
    from deploys.context import deploy_context

    cert_file, key_file = data(f"{prefix}__cert_file"), data(f"{prefix}__key_file")
    if cert_file and key_file:
        try:
            chain = Path(cert_file).read_text()
            ca_file = data(f"{prefix}__ca_file")
            return Issued(chain, Path(key_file).read_text(), Path(ca_file).read_text() if ca_file else "")
        except OSError as exc:
            raise DeployError(f"{prefix}__cert_file/{prefix}__key_file: {exc.filename}: {exc.strerror}") from None
    inv = deploy_context().inventory
    if inv.environment != "lab":
        raise DeployError(f"{prefix}: production needs {prefix}__cert_file and {prefix}__key_file in the inventory")
    return _lab_pki(inv).issue(service, names, client_auth)


def _lab_pki(inv: Inventory) -> Pki:
    """The lab's CA: ``$EGOV_PKI_DIR`` (tests) or ``<lab state>/pki``."""
    from egov.connection import lab_state_dir

    pki_dir = os.environ.get("EGOV_PKI_DIR")
    return Pki(Path(pki_dir) if pki_dir else lab_state_dir(inv.path) / "pki")


# The platform CA, where Debian's update-ca-certificates picks it up for the host's trust store.
TRUSTED_CA = services.TRUSTED_CA


def install(issued: Issued, service: str, key_group: str | None = None) -> tuple[str, str]:
    """Put ``issued`` on the host as ``/etc/ssl/egov/<service>.crt`` and ``.key`` (0600; 0640 for
    ``key_group``, the services that read it), and trust its CA when it has one: the host's own
    clients (``egov verify``'s probes, the exporters) then verify the chain it serves. Returns
    (certificate path, key path)."""
    cert, key = f"/etc/ssl/egov/{service}.crt", f"/etc/ssl/egov/{service}.key"
    files.directory(name="certificate directory", path="/etc/ssl/egov", mode="755")
    files.put(name=f"{service} certificate", src=StringIO(issued.cert_pem), dest=cert, mode="644")
    files.put(name=f"{service} certificate key", src=StringIO(issued.key_pem), dest=key,
              mode="640" if key_group else "600", group=key_group)
    trust(issued.ca_pem, service)
    return cert, key


def trust(ca_pem: str, service: str) -> None:
    """Add ``ca_pem`` (the platform CA; ``""``: a public one, nothing to add) to the host's trust store."""
    if ca_pem:
        ca = files.put(name=f"{service}: trust the platform CA", src=StringIO(ca_pem), dest=TRUSTED_CA, mode="644")
        server.shell(name=f"{service}: update the trust store", commands=["update-ca-certificates >/dev/null"],
                     _if=ca.did_change)


def issuer_of(prefix: str, role_vars: dict[str, Any]) -> str:
    """The CA (PEM) that issued the certificate of ``prefix``'s role, for another host that must
    verify it (Alertmanager verifying the mail host): ``<prefix>__ca_file`` of the role's host
    when its certificates are given by path (``""``: a public CA), else the lab's CA.

    + prefix: the role's data namespace (``mail``)
    + role_vars: the layered vars of a host with that role (``inv.hosts_with_role(...)[0].vars``)
    """
    from deploys.context import deploy_context

    if role_vars.get(f"{prefix}__cert_file"):
        ca_file = role_vars.get(f"{prefix}__ca_file")
        try:
            return Path(ca_file).read_text() if ca_file else ""
        except OSError as exc:
            raise DeployError(f"{prefix}__ca_file: {exc.filename}: {exc.strerror}") from None
    inv = deploy_context().inventory
    if inv.environment != "lab":
        raise DeployError(f"{prefix}: production needs {prefix}__cert_file and {prefix}__key_file in the inventory")
    return _lab_pki(inv).ca_pem()


def control_ca_file(inv: Inventory, host_vars: dict[str, Any]) -> str | None:
    """The platform CA as a file on the control machine, for its own clients (``egov monitor``):
    ``host__ca_file`` of a host whose certificates are given by path (None: a public CA, the
    system's trust store), else the lab CA's certificate."""
    if host_vars.get("host__cert_file"):
        return str(host_vars["host__ca_file"]) if host_vars.get("host__ca_file") else None
    if inv.environment != "lab":
        raise DeployError("host: production needs host__cert_file and host__key_file in the inventory")
    pki = _lab_pki(inv)
    pki.ca_pem()  # made on first use
    return str(pki.dir / "ca.crt")
