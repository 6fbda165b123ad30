"""The mail role's alert mailboxes: which addresses get one, and the password line dovecot reads.

The lab test (tests/lab/test_40_monitoring.py) logs in to the real dovecot over IMAPS with it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from deploys.mail import PBKDF2_ROUNDS, alert_mailboxes, dovecot_password
from egov.errors import DeployError
from inventory import load_inventory

ROOT = Path(__file__).resolve().parents[2]


def _with_it(tmp_path: Path, address: str) -> Path:
    spec = yaml.safe_load((ROOT / "tests" / "fixtures" / "monitoring" / "federated.yml").read_text(encoding="utf-8"))
    site = next(s for s in spec["sites"] if s["name"] == "tien-yen")
    site.setdefault("vars", {})["monitoring__it_email"] = address
    path = tmp_path / "inv.yml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_the_noc_has_a_mailbox_and_an_address_of_another_domain_none() -> None:
    # federated.yml: the NOC at the province's domain, Tiên Yên's IT at a subdomain served elsewhere
    assert alert_mailboxes(load_inventory(ROOT / "tests" / "fixtures" / "monitoring" / "federated.yml")) == ["noc"]


def test_a_site_it_address_at_the_domain_gets_its_mailbox(tmp_path: Path) -> None:
    assert alert_mailboxes(load_inventory(_with_it(tmp_path, "IT-TienYen@quangninh.gov.vn"))) == ["it-tienyen", "noc"]


def test_an_address_that_is_no_user_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match=r"it\.tienyen@quangninh\.gov\.vn: a mailbox name is a system user's"):
        alert_mailboxes(load_inventory(_with_it(tmp_path, "it.tienyen@quangninh.gov.vn")))


def test_the_password_line_is_dovecots_pbkdf2_and_stable() -> None:
    line = dovecot_password("noc", "s3cret-pass")
    scheme, one, salt, rounds, key = line.split("$")
    assert (scheme, one, int(rounds)) == ("{PBKDF2}", "1", PBKDF2_ROUNDS)
    # dovecot's PBKDF2: SHA-1, the salt used as its text, a 20-byte key in hex
    assert key == hashlib.pbkdf2_hmac("sha1", b"s3cret-pass", salt.encode(), PBKDF2_ROUNDS, 20).hex()
    assert dovecot_password("noc", "s3cret-pass") == line  # a second deploy uploads nothing
    assert dovecot_password("it-tienyen", "s3cret-pass") != line
