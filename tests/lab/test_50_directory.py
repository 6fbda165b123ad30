"""One directory of accounts, for real: accounts of the lab's rosters (inventory/rosters/lab) log in
to the mail host over IMAPS and submit on 587 after STARTTLS, mail from one agency reaches a person
and the clerks' alias (vanthu) of the other; with the first directory server stopped the second
answers (logins go on, it takes a write, which the first has once it is back); the reference
application's login accepts a directory account and refuses a wrong password.

Runs after test_30 (hosts deployed). Leaves the lab as found: the stopped slapd is started and
replication is back in step, the test's messages and the attribute it wrote are removed.
"""

from __future__ import annotations

import imaplib
import json
import secrets
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

import pytest
import yaml

from tests.support.imaps import Imaps

pytestmark = pytest.mark.lab


def _wait(what: str, ok: Callable[[], bool], timeout: float = 60, every: float = 1) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


class _Setting:
    """What the tests need of the deployed lab: accounts, their passwords, the mail host."""

    def __init__(self, lab: Any) -> None:
        from deploys.context import LAB_SECRETS_FILE
        from deploys.directory import alias_address
        from deploys.mail import alert_mailboxes
        from inventory.roster import inventory_rosters
        from inventory.services import directory_base, mail_name

        inv = lab.inventory
        self.lab = lab
        self.inv = inv
        directory = inv.hosts_with_role("directory")
        self.directories = [h.name for h in directory]
        self.base = directory_base(inv)
        self.accounts = inventory_rosters(inv, alert_mailboxes(inv))
        self.passwords: dict[str, str] = yaml.safe_load((lab.state_dir / LAB_SECRETS_FILE).read_text())
        agencies = list(dict.fromkeys(a.agency for a in self.accounts))
        assert len(agencies) >= 2, "the lab's rosters name two agencies"
        self.sender = self.accounts[[a.agency for a in self.accounts].index(agencies[0])]
        others = [a for a in self.accounts if a.agency == agencies[1]]
        self.recipient = next(a for a in others if "vanthu" not in a.roles)
        self.clerk = next(a for a in others if "vanthu" in a.roles)
        self.alias = alias_address(inv, agencies[1], "vanthu")
        self.mail_host = inv.hosts_with_role("mail")[0]
        self.mail_name = mail_name(inv)
        self.context = ssl.create_default_context(cafile=str(lab.state_dir / "pki" / "ca.crt"))

    def password(self, account: Any) -> str:
        return self.passwords[account.secret]

    def address(self, account: Any) -> str:
        return f"{account.uid}@{self.inv.agencies[account.agency].mail_domain}"

    @contextmanager
    def imap(self, account: Any, password: str | None = None) -> Iterator[Imaps]:
        with Imaps(str(self.mail_host.mgmt_ip), self.mail_name, self.context) as imap:
            imap.login(account.uid, password if password is not None else self.password(account))
            yield imap

    def messages_with(self, account: Any, token: str) -> list[bytes]:
        with self.imap(account) as imap:
            imap.select("INBOX")
            _, ids = imap.search(None, "SUBJECT", token)
            return list(ids[0].split())

    def remove_messages(self, account: Any, token: str) -> None:
        with self.imap(account) as imap:
            imap.select("INBOX")
            _, ids = imap.search(None, "SUBJECT", token)
            for num in ids[0].split():
                imap.store(num, "+FLAGS", "\\Deleted")
            imap.expunge()

    def ldap(self, node: str, command: str) -> tuple[int, str]:
        """An LDAP tool as root on a directory host, over ldapi (root's peer credentials)."""
        return self.lab.exec(node, f"{command} -Q -Y EXTERNAL -H ldapi:///")

    def context_csn(self, node: str) -> list[str]:
        rc, out = self.ldap(node, f"ldapsearch -LLL -o ldif-wrap=no -s base -b '{self.base}' contextCSN")
        return sorted(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("contextCSN: ")) \
            if rc == 0 else []

    def in_step(self) -> bool:
        states = [self.context_csn(node) for node in self.directories]
        return bool(states[0]) and all(s == states[0] for s in states)


@pytest.fixture(scope="module")
def setting(lab: Any) -> _Setting:
    return _Setting(lab)


def test_an_account_logs_in_and_mail_between_two_agencies_is_delivered(setting: _Setting) -> None:
    with setting.imap(setting.recipient) as imap:
        assert imap.select("INBOX")[0] == "OK"
    with pytest.raises(imaplib.IMAP4.error):
        with setting.imap(setting.recipient, "not-the-password"):
            pass
    token = f"egov-lab-{secrets.token_hex(4)}"
    message = EmailMessage()
    message["From"], message["To"] = setting.address(setting.sender), setting.address(setting.recipient)
    message["Cc"], message["Subject"] = setting.alias, f"{token} Công văn thử nghiệm"
    message.set_content("Kính gửi: văn thư.\n")
    with smtplib.SMTP(str(setting.mail_host.mgmt_ip), 587, timeout=15) as smtp:
        smtp.ehlo()
        assert "auth" not in smtp.esmtp_features, "587 offers AUTH before STARTTLS"
        setattr(smtp, "_host", setting.mail_name)  # noqa: B010  starttls checks the certificate against _host
        smtp.starttls(context=setting.context)
        smtp.ehlo()
        with pytest.raises(smtplib.SMTPRecipientsRefused):  # TLS but no authentication: no mail
            smtp.send_message(message)
        smtp.login(setting.sender.uid, setting.password(setting.sender))
        assert smtp.send_message(message) == {}
    try:
        for account in (setting.recipient, setting.clerk):
            def arrived(who: Any = account) -> bool:
                return bool(setting.messages_with(who, token))

            _wait(f"the message in {account.uid}'s mailbox", arrived, timeout=60, every=2)
    finally:
        for account in (setting.recipient, setting.clerk):
            setting.remove_messages(account, token)


def _login(setting: _Setting, password: str) -> tuple[int, dict[str, Any]]:
    """POST /login to the portal app on its host (its port is open to the web hosts only)."""
    from inventory.applications import APPS

    host = setting.inv.hosts_with_role("app_portal")[0]
    script = ("import json,sys,urllib.request,urllib.error\n"
              "r=urllib.request.Request(sys.argv[1],data=sys.argv[2].encode(),headers={'Content-Type':'application/json'})\n"
              "try:\n with urllib.request.urlopen(r,timeout=20) as a: print(a.status, a.read().decode())\n"
              "except urllib.error.HTTPError as e: print(e.code, e.read().decode())\n")
    body = json.dumps({"user": setting.recipient.uid, "password": password})
    rc, out = setting.lab.exec(host.name, ["python3", "-c", script,
                                           f"http://127.0.0.1:{APPS['app_portal'].port}/login", body])
    assert rc == 0, "the login request did not run"
    status, _, text = out.strip().splitlines()[-1].partition(" ")
    return int(status), json.loads(text)


def test_the_apps_login_accepts_a_directory_account_and_refuses_a_wrong_password(setting: _Setting) -> None:
    status, body = _login(setting, setting.password(setting.recipient))
    assert (status, body.get("user"), body.get("name")) == (200, setting.recipient.uid, setting.recipient.name)
    assert _login(setting, "not-the-password")[0] == 401


def test_the_replica_answers_when_the_first_is_stopped(setting: _Setting) -> None:
    first, second = setting.directories[:2]
    dn = f"uid={setting.recipient.uid},ou=people,{setting.base}"
    mark = f"egov-lab-{secrets.token_hex(4)}"

    def description(node: str) -> str:
        _, out = setting.ldap(node, f"ldapsearch -LLL -o ldif-wrap=no -s base -b '{dn}' description")
        return out

    assert setting.in_step(), "replication in step before the test"
    rc, out = setting.lab.exec(first, "systemctl stop slapd")
    assert rc == 0, out
    try:
        assert setting.lab.exec(first, "pgrep -x slapd")[0] == 1, f"slapd still runs on {first}"
        # the mail host and the apps go on to the second server
        with setting.imap(setting.recipient) as imap:
            assert imap.select("INBOX")[0] == "OK"
        assert _login(setting, setting.password(setting.recipient))[0] == 200
        # the second takes a write on its own (multi-provider)
        rc, out = setting.ldap(second, f"printf 'dn: {dn}\\nchangetype: modify\\nreplace: description\\n"
                                       f"description: {mark}\\n' | ldapmodify")
        assert rc == 0, out
    finally:
        setting.lab.exec(first, "systemctl start slapd")
    try:
        _wait(f"{first} has the write made on {second} while it was stopped", lambda: mark in description(first),
              timeout=60)
    finally:
        setting.ldap(first, f"printf 'dn: {dn}\\nchangetype: modify\\ndelete: description\\n' | ldapmodify")
        _wait("replication back in step", setting.in_step, timeout=60)
    assert mark not in description(second)


def test_verify_sees_the_directory_in_step(setting: _Setting) -> None:
    from verify import run

    result = run(setting.inv, setting.directories)
    outcomes = [c for r in result.values() for c in r.data.get("controls", []) if c["id"] == "APP-08"]
    assert outcomes and all(c["passed"] for c in outcomes), outcomes
