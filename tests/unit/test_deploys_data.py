"""Deploy data without hosts: the role registry, firewall rules, secrets and the lab CA."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest
from cryptography import x509

from deploys import context, roles
from deploys.base import firewall_rules
from deploys.context import DeployContext
from egov.errors import DeployError
from egov.pki import Pki
from inventory import load_inventory
from inventory.services import roles_of

if TYPE_CHECKING:
    from inventory import Inventory

LAB = Path(__file__).resolve().parents[2] / "inventory" / "lab.yml"


def test_every_contract_role_is_registered() -> None:
    for role in ("base", "mirror", "dns", "ntp", "db", "lb", "web", "mail", "backup", "log", "bastion",
                 "monitoring", "exporters", "local_node", "app_docmgmt", "app_onestop", "app_portal", "app_specdb"):
        assert ":" in roles.ROLES[role]
    assert roles.ROLES["app_portal"] == "deploys.apps:apply"


def test_roles_of_puts_base_first_and_web_before_lb() -> None:
    order = roles_of(["lb", "app_portal", "web", "dns", "dns"])
    assert order[:2] == ["base", "exporters"]
    assert order.index("web") < order.index("lb") and order.count("dns") == 1


def test_resolve_unknown_role_names_it() -> None:
    with pytest.raises(DeployError, match="unknown role 'nosuch'"):
        roles.resolve("nosuch")


def test_firewall_rules_from_roles_and_extras() -> None:
    host_vars = load_inventory(LAB).hosts["dc-app1"].vars  # where the monitoring ports are read
    rules = firewall_rules(["dns", "lb"], ["tcp/8080", "ip saddr 10.0.0.0/8 udp dport 161"], host_vars)
    assert "tcp dport 53" in rules and "udp dport 53" in rules and "ip protocol vrrp" in rules
    assert "tcp dport 8080" in rules and "ip saddr 10.0.0.0/8 udp dport 161" in rules
    assert "tcp dport 5432" not in rules


def test_pki_issues_reuses_and_reissues(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    first = pki.issue("web", ["quangninh.gov.vn", "10.22.176.5"])
    assert stat.S_IMODE((tmp_path / "pki" / "web.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "pki" / "ca.key").stat().st_mode) == 0o600
    assert pki.issue("web", ["quangninh.gov.vn", "10.22.176.5"]).cert_pem == first.cert_pem
    again = pki.issue("web", ["quangninh.gov.vn", "www.quangninh.gov.vn"])
    assert again.cert_pem != first.cert_pem
    cert = x509.load_pem_x509_certificate(again.cert_pem.encode())
    ca = x509.load_pem_x509_certificate(again.ca_pem.encode())
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"quangninh.gov.vn", "www.quangninh.gov.vn"}


def test_lab_secret_generated_once_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import deploys
    from egov.secrets import Secrets, redact

    class Inv:
        path = tmp_path / "lab.yml"
        environment = "lab"

    monkeypatch.setenv("EGOV_LAB_DIR", str(tmp_path / "labs"))
    monkeypatch.delenv("EGOV_SECRET_DB_PORTAL_PASSWORD", raising=False)
    monkeypatch.setattr(context, "_current", DeployContext.of(cast("Inventory", Inv()), Secrets()))
    value = deploys.secret("db_portal_password")
    assert deploys.secret("db_portal_password") == value and len(value) >= 24
    stored = tmp_path / "labs" / "lab" / "deploy-secrets.yml"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert value not in redact(f"dsn password={value}")


def test_production_secret_missing_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import deploys
    from egov.errors import SecretsError
    from egov.secrets import Secrets

    class Inv:
        path = tmp_path / "prod.yml"
        environment = "production"

    monkeypatch.delenv("EGOV_SECRET_DB_PORTAL_PASSWORD", raising=False)
    monkeypatch.setattr(context, "_current", DeployContext.of(cast("Inventory", Inv()), Secrets()))
    with pytest.raises(SecretsError, match="EGOV_SECRET_DB_PORTAL_PASSWORD"):
        deploys.secret("db_portal_password")
    monkeypatch.setenv("EGOV_SECRET_DB_PORTAL_PASSWORD", "from-the-env")
    assert deploys.secret("db_portal_password") == "from-the-env"
