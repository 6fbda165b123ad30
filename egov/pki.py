"""The lab's certificate authority: a CA and one certificate per service (or router).

Production uses real certificates by path (``web__cert_file``/``web__key_file``, ``mail__cert_file``
...); a lab has none, so the toolkit makes its own CA in the lab state directory (``<state>/pki``,
or ``$EGOV_PKI_DIR``), outside the repository. Private keys are written 0600. Certificates are
reused while their names match and they have more than 30 days left, so a second run issues nothing.
Here, below the layers, because both the deploys (the hosts' certificates) and the lab (its
routers', written when a router is created) issue from the same CA.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from egov.errors import DeployError

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


def lab_pki(inventory_path: str | Path) -> Pki:
    """The lab's CA: ``$EGOV_PKI_DIR`` (tests) or ``<lab state>/pki``."""
    from egov.connection import lab_state_dir

    pki_dir = os.environ.get("EGOV_PKI_DIR")
    return Pki(Path(pki_dir) if pki_dir else lab_state_dir(inventory_path) / "pki")
