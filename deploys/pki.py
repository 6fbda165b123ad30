"""Certificates for the deploys: given by path in production, else issued by the lab's CA
(``egov/pki.py``), and put on a host with its CA in the host's trust store.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyinfra.operations import files, server

from egov.errors import DeployError
from egov.pki import Issued, lab_pki
from inventory import services

if TYPE_CHECKING:
    from inventory.model import Inventory


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
    return lab_pki(inv.path).issue(service, names, client_auth)


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
    return lab_pki(inv.path).ca_pem()


def control_ca_file(inv: Inventory, host_vars: dict[str, Any]) -> str | None:
    """The platform CA as a file on the control machine, for its own clients (``egov monitor``):
    ``host__ca_file`` of a host whose certificates are given by path (None: a public CA, the
    system's trust store), else the lab CA's certificate."""
    if host_vars.get("host__cert_file"):
        return str(host_vars["host__ca_file"]) if host_vars.get("host__ca_file") else None
    if inv.environment != "lab":
        raise DeployError("host: production needs host__cert_file and host__key_file in the inventory")
    pki = lab_pki(inv.path)
    pki.ca_pem()  # made on first use
    return str(pki.dir / "ca.crt")
