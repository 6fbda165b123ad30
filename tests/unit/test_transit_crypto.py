"""Encrypted in transit (issue 13, item 8): what the roles render, through each service's own checker.

sshd, rsyslogd, promtool and postgres are installed by scripts/bootstrap.sh (what CI runs): a
missing one is a failure, never a skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from deploys import render
from deploys.base import SSH_CIPHERS, SSH_KEX, SSH_MACS
from tests.support.fake_host import FakeHost, Out
from verify.checks import CHECKS, Node

NODE = Node(name="dc-db1", roles=["db"])


def _tool(name: str, *where: str) -> str:
    for path in (shutil.which(name), *where):
        if path and Path(path).exists():
            return path
    pytest.fail(f"{name} is missing: bash scripts/bootstrap.sh installs it")


# --- SSH ------------------------------------------------------------------------------------------


def _sshd_T(tmp_path: Path, config: str) -> subprocess.CompletedProcess[str]:
    """``sshd -T`` (the effective configuration, after sshd's own parse) of ``config`` alone."""
    sshd = _tool("sshd", "/usr/sbin/sshd")
    key = tmp_path / "host_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    # systemd-tmpfiles makes it on a booted host; sshd -t refuses to run without it
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    path = tmp_path / "sshd_config"
    path.write_text(config)
    return subprocess.run([sshd, "-T", "-f", str(path), "-h", str(key)], capture_output=True, text=True,
                          check=False, timeout=30)


def _sshd_conf(**overrides: object) -> str:
    context: dict[str, object] = {"permit_root_login": "prohibit-password", "max_sessions": 4,
                                  "tcp_forwarding": False, "ciphers": SSH_CIPHERS, "macs": SSH_MACS, "kex": SSH_KEX}
    return render("base", "sshd.conf.j2", **{**context, **overrides})


def test_every_ssh_algorithm_is_one_openssh_knows() -> None:
    for query, ours in (("cipher", SSH_CIPHERS), ("mac", SSH_MACS), ("kex", SSH_KEX)):
        known = subprocess.run(["ssh", "-Q", query], capture_output=True, text=True, check=True).stdout.split()
        assert set(ours) <= set(known), f"ssh -Q {query} lacks {set(ours) - set(known)}"


def test_sshd_accepts_the_config_and_offers_only_strong_algorithms(tmp_path: Path) -> None:
    ours = _sshd_T(tmp_path, _sshd_conf())
    assert ours.returncode == 0, ours.stderr
    outcome = CHECKS["ssh_strong_crypto"](FakeHost(answers={"sshd -T": Out(0, ours.stdout)}), NODE)
    assert outcome.passed, outcome.detail
    effective = dict(line.split(None, 1) for line in ours.stdout.splitlines() if " " in line)
    assert effective["macs"].split(",") == list(SSH_MACS)


def test_debian_defaults_fail_the_control(tmp_path: Path) -> None:
    """OpenSSH 9.2's built-in lists (an empty config) offer umac-64 and hmac-sha1: SRV-08 says so."""
    default = _sshd_T(tmp_path, "")
    assert default.returncode == 0, default.stderr
    outcome = CHECKS["ssh_strong_crypto"](FakeHost(answers={"sshd -T": Out(0, default.stdout)}), NODE)
    assert not outcome.passed
    assert "macs umac-64@openssh.com" in outcome.detail and "macs hmac-sha1" in outcome.detail


def test_sshd_refuses_an_algorithm_it_does_not_know(tmp_path: Path) -> None:
    """The checker the deploy runs (sshd -t) would stop a typo before the reload."""
    bad = _sshd_T(tmp_path, _sshd_conf(macs=("hmac-sha2-257",)))
    assert bad.returncode != 0 and "Bad SSH2 mac spec" in bad.stderr


# --- syslog over TLS ------------------------------------------------------------------------------

TLS_FILES = {"cert": "/etc/ssl/egov/host.crt", "key": "/etc/ssl/egov/host.key",
             "ca": "/usr/local/share/ca-certificates/egov-lab-ca.crt"}


def _rsyslog_check(tmp_path: Path, config: str) -> subprocess.CompletedProcess[str]:
    rsyslogd = _tool("rsyslogd", "/usr/sbin/rsyslogd")
    path = tmp_path / "rsyslog.conf"
    path.write_text(config)
    return subprocess.run([rsyslogd, "-N1", "-f", str(path)], capture_output=True, text=True, check=False,
                          timeout=30)


def test_forwarding_is_syslog_over_tls_and_rsyslogd_accepts_it(tmp_path: Path) -> None:
    config = render("base", "rsyslog-forward.conf.j2", targets=[("dc-ops1", "10.22.146.14")], port=6514,
                    **TLS_FILES)
    checked = _rsyslog_check(tmp_path, config)
    assert checked.returncode == 0, checked.stderr
    outcome = CHECKS["log_over_tls"](FakeHost(answers={"cat /etc/rsyslog.conf": Out(0, config)}),
                                     Node(name="dc-db1", roles=["db"], log_targets=["10.22.146.14"]))
    assert outcome.passed, outcome.detail


def test_the_log_host_takes_tls_only_from_named_peers(tmp_path: Path) -> None:
    config = render("log", "central.conf.j2", retention_days=90, port=6514, peers=["dc-db1", "dc-db2"], **TLS_FILES)
    checked = _rsyslog_check(tmp_path, config)
    assert checked.returncode == 0, checked.stderr
    assert 'PermittedPeer=["dc-db1", "dc-db2"]' in config and "imudp" not in config
    log_host = Node(name="dc-ops1", roles=["log"])
    outcome = CHECKS["log_over_tls"](FakeHost(answers={"cat /etc/rsyslog.conf": Out(0, config)}), log_host)
    assert outcome.passed, outcome.detail


PLAIN_FORWARD = '*.* action(type="omfwd" target="10.22.146.14" port="514" protocol="tcp")\n'
PLAIN_RECEIVER = 'module(load="imtcp")\ninput(type="imtcp" port="514")\nmodule(load="imudp")\n'


@pytest.mark.parametrize(("node", "config", "problem"), [
    (Node(name="dc-db1", roles=["db"], log_targets=["10.22.146.14"]), PLAIN_FORWARD, "without TLS"),
    (Node(name="dc-db1", roles=["db"], log_targets=["10.22.146.14"]), "*.* @@10.22.146.14:514\n", "without TLS"),
    (Node(name="dc-db1", roles=["db"], log_targets=["10.22.146.14"]),
     PLAIN_FORWARD.replace('protocol="tcp"', 'protocol="tcp" StreamDriver="gtls" StreamDriverMode="1" '
                                              'StreamDriverAuthMode="anon"'), "anon"),
    (Node(name="dc-ops1", roles=["log"]), PLAIN_RECEIVER, "plain"),
])
def test_cleartext_syslog_fails_the_control(node: Node, config: str, problem: str) -> None:
    outcome = CHECKS["log_over_tls"](FakeHost(answers={"cat /etc/rsyslog.conf": Out(0, config)}), node)
    assert not outcome.passed and problem in outcome.detail, outcome.detail
