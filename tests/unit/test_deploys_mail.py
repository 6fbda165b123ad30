"""The mail role: which alert addresses get a mailbox, the domains it holds, and its configs as
postfix and dovecot check them (``postfix check``, ``doveconf -n``) where they are installed.

The lab tests log in to the real dovecot over IMAPS (tests/lab/test_40_monitoring.py: the NOC's
mailbox; tests/lab/test_50_directory.py: a roster's account) and submit on 587.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploys import render
from deploys.mail import LDAP_TABLES, alert_mailboxes, mail_domains
from egov.errors import DeployError
from egov.pki import Pki
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


def test_the_mail_host_holds_the_provinces_domain_and_each_agencys_own() -> None:
    assert mail_domains(load_inventory(ROOT / "inventory" / "lab.yml")) == ["quangninh.gov.vn",
                                                                            "tienyen.quangninh.gov.vn"]


def _postfix_dir(tmp_path: Path) -> Path:
    conf = tmp_path / "postfix"
    conf.mkdir()
    tables = {t: str(conf / f"ldap-{t}.cf") for t in LDAP_TABLES}
    for table, (query, result) in LDAP_TABLES.items():
        Path(tables[table]).write_text(render("mail", "ldap-table.cf.j2", servers=["ldaps://10.22.146.12:636"],
                                              base="dc=quangninh,dc=gov,dc=vn", bind_dn="cn=mail,ou=services",
                                              bind_pw="test-pw", query=query, result=result))
    (conf / "main.cf").write_text(render("mail", "main.cf.j2", domain="quangninh.gov.vn",
                                         hostname="mail.quangninh.gov.vn", networks=["10.22.0.0/16"], relay_host="",
                                         cert="/etc/ssl/egov/mail.crt", key="/etc/ssl/egov/mail.key",
                                         domains=["quangninh.gov.vn", "tienyen.quangninh.gov.vn"], tables=tables))
    (conf / "master.cf").write_text(render("mail", "master.cf.j2"))
    return conf


@pytest.mark.skipif(shutil.which("postconf") is None or not Path("/usr/lib/postfix/postfix-ldap.so").exists(),
                    reason="postfix and postfix-ldap are not installed here")
def test_postfix_takes_the_config_and_its_directory_tables(tmp_path: Path) -> None:
    conf = _postfix_dir(tmp_path)
    check = subprocess.run(["postfix", "-c", str(conf), "check"], capture_output=True, text=True)
    assert check.returncode == 0 and check.stderr == "", check.stderr
    settings = subprocess.run(["postconf", "-c", str(conf), "-h", "virtual_mailbox_maps", "mydestination",
                               "virtual_transport"], capture_output=True, text=True, check=True).stdout.split("\n")
    assert settings[:3] == [f"proxy:ldap:{conf}/ldap-mailboxes.cf", "$myhostname, localhost.$mydomain, localhost",
                            "lmtp:unix:private/dovecot-lmtp"]
    # a table file that is gone is what postfix check reports
    (conf / "ldap-aliases.cf").unlink()
    assert "ldap-aliases.cf" in subprocess.run(["postfix", "-c", str(conf), "check"], capture_output=True,
                                               text=True).stderr


@pytest.mark.skipif(shutil.which("doveconf") is None, reason="dovecot is not installed here")
def test_dovecot_takes_the_config_with_ldap_lmtp_and_quota(tmp_path: Path) -> None:
    issued = Pki(tmp_path / "pki").issue("mail", ["mail.quangninh.gov.vn"])
    (tmp_path / "mail.crt").write_text(issued.cert_pem)
    (tmp_path / "mail.key").write_text(issued.key_pem)
    conf = tmp_path / "dovecot.conf"
    conf.write_text("!include_try /usr/share/dovecot/protocols.d/*.protocol\n"
                    + render("mail", "dovecot-auth.conf.j2")
                    + render("mail", "dovecot.conf.j2", cert=tmp_path / "mail.crt", key=tmp_path / "mail.key",
                             vmail="/var/vmail", quota="2G"))
    result = subprocess.run(["doveconf", "-c", str(conf), "-n"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for line in ("protocols = imap lmtp", "quota_rule = *:storage=2G", "driver = ldap",
                 "args = uid=vmail gid=vmail home=/var/vmail/%d/%n allow_all_users=yes"):
        assert line in result.stdout
    conf.write_text(conf.read_text().replace("mail_location", "mail_locaton"))  # a misspelt setting
    assert subprocess.run(["doveconf", "-c", str(conf), "-n"], capture_output=True, text=True).returncode != 0
