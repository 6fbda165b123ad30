"""Encrypted in transit (issue 13, item 8): what the roles render, through each service's own checker.

sshd, rsyslogd, promtool and postgres are installed by scripts/bootstrap.sh (what CI runs): a
missing one is a failure, never a skip.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from deploys import render
from deploys.base import SSH_CIPHERS, SSH_KEX, SSH_MACS, firewall_rules
from tests.support.fake_host import FakeHost, Out
from tests.support.loopback import free_port, http_serving
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
    config = render("base", "rsyslog-forward.conf.j2", managed_by="deploys/base.py",
                    targets=[("dc-ops1", "10.22.146.14")], port=6514, **TLS_FILES)
    checked = _rsyslog_check(tmp_path, config)
    assert checked.returncode == 0, checked.stderr
    outcome = CHECKS["log_over_tls"](FakeHost(answers={"cat /etc/rsyslog.conf": Out(0, config)}),
                                     Node(name="dc-db1", roles=["db"], log_targets=["10.22.146.14"]))
    assert outcome.passed, outcome.detail


def test_the_log_host_takes_tls_only_from_named_peers(tmp_path: Path) -> None:
    """Every router on TLS: the hosts and the routers are named peers of the one TLS input, a
    router's lines go to its own file by its address, and there is no plain input at all."""
    config = render("log", "central.conf.j2", retention_days=90, port=6514, peers=["dc-db1", "dc-db2", "dc-r1"],
                    router_addresses=[("10.22.128.1", "dc-r1"), ("10.22.146.1", "dc-r1")], router_port=514,
                    plain_sources=[], plain_loopbacks=[], **TLS_FILES)
    checked = _rsyslog_check(tmp_path, config)
    assert checked.returncode == 0, checked.stderr
    assert 'PermittedPeer=["dc-db1", "dc-db2", "dc-r1"]' in config and "imudp" not in config
    remote = config[config.index('ruleset(name="egov_remote")'):]
    assert 'if $fromhost-ip == ["10.22.128.1", "10.22.146.1"] then { set $.router = "dc-r1"; }' in remote
    assert remote.index('dynaFile="EgovPerRouter"') < remote.index("stop") < remote.index('dynaFile="EgovPerHost"')
    log_host = Node(name="dc-ops1", roles=["log"])
    outcome = CHECKS["log_over_tls"](FakeHost(answers={"cat /etc/rsyslog.conf": Out(0, config)}), log_host)
    assert outcome.passed, outcome.detail


def _send_tls(port: int, ca: str, cert: str, key: str, marker: str) -> str:
    """One syslog line (RFC 5424, octet-counted as RFC 5425 frames it) over TLS to 127.0.0.1:``port``,
    showing ``cert``; "" when sent, else why the log host refused the session."""
    import socket
    import ssl

    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    ctx.load_cert_chain(cert, key)
    msg = f"<13>1 - sender egov-test - - - {marker}".encode()
    try:
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5)) as tls:
            tls.sendall(str(len(msg)).encode() + b" " + msg)
            tls.settimeout(1)
            try:
                tls.recv(1)  # rsyslog never answers: a refused peer is a closed session or a TLS alert
            except TimeoutError:
                return ""
            return "closed"
    except (OSError, ssl.SSLError) as exc:
        return type(exc).__name__


def test_a_real_rsyslogd_files_each_sender_by_address_and_refuses_unnamed_peers(tmp_path: Path) -> None:
    """The log host's configuration in a real rsyslogd (on loopback, ports and paths moved): a
    router's line over TLS lands in its own file by its address, a host's in its directory, a
    certificate the inventory does not name is refused, and a plain-UDP router's datagram is filed
    by its loopback; then, with no router on UDP, there is no UDP input to send to."""
    import socket
    import time

    from egov.pki import Pki
    pki = Pki(tmp_path / "pki")
    server = pki.issue("host-dc-ops1", ["dc-ops1"], client_auth=True)
    files = {}
    for name, issued in (("server", server), *((who, pki.issue(who, [who], client_auth=True))
                                               for who in ("dc-r1", "dc-db1", "intruder"))):
        (tmp_path / f"{name}.crt").write_text(issued.cert_pem)
        (tmp_path / f"{name}.key").write_text(issued.key_pem)
        files[name] = (str(tmp_path / f"{name}.crt"), str(tmp_path / f"{name}.key"))
    ca = tmp_path / "ca.crt"
    ca.write_text(server.ca_pem)
    out = tmp_path / "log"
    rsyslogd = _tool("rsyslogd", "/usr/sbin/rsyslogd")

    def run(addresses: list[tuple[str, str]], plain: list[tuple[str, str]], sends: Any) -> None:
        tls_port, udp_port = free_port(), free_port()
        config = render("log", "central.conf.j2", retention_days=90, port=tls_port, peers=["dc-db1", "dc-r1"],
                        router_addresses=addresses, router_port=udp_port,
                        plain_sources=[f"{address}/32" for address, _ in plain], plain_loopbacks=plain,
                        cert=files["server"][0], key=files["server"][1], ca=str(ca))
        (tmp_path / "rsyslog.conf").write_text(config.replace("/var/log/egov", str(out)).replace(
            'fileGroup="adm"', ""))
        daemon = subprocess.Popen([rsyslogd, "-n", "-f", str(tmp_path / "rsyslog.conf"), "-i", str(tmp_path / "pid")],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", tls_port)) == 0:
                        break
                time.sleep(0.1)
            sends(tls_port, udp_port)
        finally:
            daemon.terminate()
            daemon.wait(timeout=10)

    def logged(marker: str) -> list[str]:
        return sorted(str(p.relative_to(out)) for p in out.rglob("*.log") if marker in p.read_text())

    def with_udp_router(tls_port: int, udp_port: int) -> None:
        assert _send_tls(tls_port, str(ca), *files["dc-r1"], "from-router") == ""
        assert _send_tls(tls_port, str(ca), *files["intruder"], "from-intruder") != ""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"<13>1 - r2 ospfd - - - from-udp-router", ("127.0.0.1", udp_port))
        time.sleep(1.5)

    run([("127.0.0.1", "dc-r1")], [("127.0.0.1", "dc-r2")], with_udp_router)
    assert logged("from-router") == ["network/dc-r1.log"]
    assert logged("from-udp-router") == ["network/dc-r2.log"]
    assert logged("from-intruder") == []

    def all_tls(tls_port: int, udp_port: int) -> None:
        assert _send_tls(tls_port, str(ca), *files["dc-db1"], "from-host") == ""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"<13>1 - r2 ospfd - - - from-nobody", ("127.0.0.1", udp_port))
        time.sleep(1.5)

    run([("10.22.186.32", "dc-r1")], [], all_tls)
    assert logged("from-host") == [f"sender/{time.strftime('%Y-%m-%d')}.log"]
    assert logged("from-nobody") == []


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


# --- the plain syslog of the routers not enrolled for TLS, from their loopbacks only ---------------

POOL = ["10.22.128.1/32"]
EXPORTERS = {"monitoring__node_exporter_port": 9100, "monitoring__postgres_exporter_port": 9187,
             "monitoring__egov_exporter_port": 9101}
LOG_HOST = Node(name="dc-ops1", roles=["log"], plain_syslog_sources=POOL)


def _nft_listed(tmp_path: Path, rules: list[str]) -> str:
    """What ``nft list ruleset`` prints once base's firewall with ``rules`` is loaded, in a network
    namespace of its own (this machine's firewall is never touched)."""
    nft = _tool("nft", "/usr/sbin/nft")
    path = tmp_path / "nftables.conf"
    path.write_text(render("base", "nftables.conf.j2", ssh_from=["10.22.0.0/20"], rules=rules))
    listed = subprocess.run(["unshare", "-n", "sh", "-c", f'{nft} -f "$1" && {nft} list ruleset', "-", str(path)],
                            capture_output=True, text=True, check=False, timeout=30)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def _central(plain: list[tuple[str, str]], sources: list[str]) -> str:
    """The log host's configuration with the routers ``plain`` ((loopback, name)) on UDP from ``sources``."""
    return render("log", "central.conf.j2", retention_days=90, port=6514, peers=["dc-db1"], router_port=514,
                  router_addresses=plain, plain_sources=sources, plain_loopbacks=plain, **TLS_FILES)


def _srv09(config: str, ruleset: str, node: Node = LOG_HOST) -> tuple[bool, str]:
    outcome = CHECKS["log_over_tls"](FakeHost(answers={"cat /etc/rsyslog.conf": Out(0, config),
                                                       "nft list ruleset": Out(0, ruleset)}), node)
    return outcome.passed, outcome.detail


def test_the_log_host_opens_udp_514_to_the_plain_syslog_sources_alone(tmp_path: Path) -> None:
    config = _central([("10.22.128.1", "dc-r1")], POOL)
    checked = _rsyslog_check(tmp_path, config)
    assert checked.returncode == 0, checked.stderr
    # the routers' own ruleset and file, named from the inventory by the sender's address
    assert 'input(type="imudp" port="514" ruleset="egov_routers")' in config
    assert 'if $fromhost-ip == ["10.22.128.1"] then { set $.router = "dc-r1"; }' in config
    assert "/var/log/egov/network/%$.router%.log" in config
    ruleset = _nft_listed(tmp_path, firewall_rules(["log"], [], EXPORTERS, "dc-ops1", POOL))
    assert "ip saddr 10.22.128.1 udp dport 514 accept" in ruleset, ruleset
    assert _srv09(config, ruleset) == (True, "log host: syslog over TLS, senders verified; plain UDP from "
                                             "the routers not enrolled for TLS (10.22.128.1/32) only")


def test_a_host_without_the_log_role_never_opens_udp_514(tmp_path: Path) -> None:
    assert not [rule for rule in firewall_rules(["db"], [], EXPORTERS, "dc-db1", POOL) if "udp dport 514" in rule]
    # nor does the log host when every router uses TLS
    assert not [rule for rule in firewall_rules(["log"], [], EXPORTERS, "dc-ops1", []) if "udp dport 514" in rule]


@pytest.mark.parametrize(("extra", "pool", "problem"), [
    (["udp dport 514"], POOL, "'udp dport 514 accept' opens udp/514 beyond the routers that send plain syslog"),
    (["ip saddr 10.22.0.0/16 udp dport { 514, 1514 }"], POOL, "opens udp/514 beyond the routers that send plain"),
    (["ip saddr 10.22.146.0/24"], POOL, "'ip saddr 10.22.146.0/24 accept' opens udp/514"),
])
def test_srv09_fails_a_firewall_that_lets_hosts_reach_udp_514(tmp_path: Path, extra: list[str], pool: list[str],
                                                               problem: str) -> None:
    ruleset = _nft_listed(tmp_path, firewall_rules(["log"], extra, EXPORTERS, "dc-ops1", pool))
    passed, detail = _srv09(_central([("10.22.128.1", "dc-r1")], POOL), ruleset)
    assert not passed and problem in detail, detail


def test_srv09_fails_an_input_rsyslog_itself_takes_from_hosts(tmp_path: Path) -> None:
    ruleset = _nft_listed(tmp_path, firewall_rules(["log"], [], EXPORTERS, "dc-ops1", POOL))
    wider = _central([("10.22.128.1", "dc-r1")], ["10.22.0.0/16"])
    assert _rsyslog_check(tmp_path, wider).returncode == 0
    passed, detail = _srv09(wider, ruleset)
    assert not passed and "$AllowedSender UDP does not restrict it" in detail, detail
    unrestricted = wider.replace("$AllowedSender UDP, 10.22.0.0/16\n", "")
    passed, detail = _srv09(unrestricted, ruleset)
    assert not passed and "$AllowedSender UDP does not restrict it" in detail, detail
    # a firewall that drops nothing by default
    passed, detail = _srv09(_central([("10.22.128.1", "dc-r1")], POOL), ruleset.replace("policy drop", "policy accept"))
    assert not passed and "does not drop by default" in detail, detail


def test_srv09_still_fails_a_plain_input_on_any_other_host(tmp_path: Path) -> None:
    config = _central([("10.22.128.1", "dc-r1")], POOL)
    ruleset = _nft_listed(tmp_path, firewall_rules(["log"], [], EXPORTERS, "dc-ops1", POOL))
    passed, detail = _srv09(config, ruleset, Node(name="dc-db1", roles=["db"], plain_syslog_sources=POOL,
                                                 log_targets=["10.22.146.14"]))
    assert not passed and "imudp: a plain network input" in detail, detail


# --- PostgreSQL between hosts ---------------------------------------------------------------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def pg_server() -> Iterator[tuple[Path, str, Path]]:
    """A real PostgreSQL 15 on 127.0.0.1 with the db role's settings and pg_hba, its certificate
    from a lab CA (key root:ssl-cert 0640, as base installs it); yields (CA file, port, socket directory)."""
    import grp
    import os
    import socket
    import tempfile

    from egov.pki import Pki

    _tool("postgres", str(PG_BIN / "postgres"))
    work = Path(tempfile.mkdtemp(prefix="egov-pg-"))
    work.chmod(0o755)
    try:
        issued = Pki(work / "pki").issue("host-db", ["dc-db1", "127.0.0.1"], client_auth=True)
        cert, key, ca = work / "host.crt", work / "host.key", work / "ca.crt"
        cert.write_text(issued.cert_pem)
        ca.write_text(issued.ca_pem)
        key.write_text(issued.key_pem)
        os.chown(key, 0, grp.getgrnam("ssl-cert").gr_gid)
        key.chmod(0o640)
        data = work / "data"
        data.mkdir()
        os.chown(data, _uid("postgres"), -1)
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "--auth=peer", "-U", "postgres"])
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = str(s.getsockname()[1])
        (data / "postgresql.auto.conf").write_text(
            render("db", "egov.conf.j2", cert=cert, key=key) +
            f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{data}'\n")
        # the role's rules for a client at 127.0.0.1; from loopback the template's local line would
        # match first (by design), so it is left out to test the remote hosts' lines
        hba = render("db", "pg_hba.conf.j2", rules=[("portal", "portal", "127.0.0.1")])
        (data / "pg_hba.conf").write_text("\n".join(line for line in hba.splitlines()
                                                     if not line.startswith("host    all")) + "\n")
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "server.log"), "start"])
        try:
            _as_postgres(["psql", "-h", str(data), "-p", port, "-XAtq", "-c", "create role portal login password 'pw'",
                          "-c", "create database portal owner portal"])
            yield ca, port, data
        finally:
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _uid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid


def _as_postgres(command: list[str]) -> None:
    proc = subprocess.run(["runuser", "-u", "postgres", "--", *command], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _psql(dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["psql", dsn, "-XAtq", "-c", "select ssl from pg_stat_ssl where pid = pg_backend_pid()"],
                          capture_output=True, text=True, check=False, timeout=30, env={"PGPASSWORD": "pw"})


def test_postgres_takes_remote_clients_over_verified_tls_only(pg_server: tuple[Path, str, Path]) -> None:
    from deploys import libpq
    from verify.checks.data import PG_TLS_QUERY

    ca, port, socket_dir = pg_server
    # the control, against the server's own view of its settings and rules
    state = subprocess.run(PG_TLS_QUERY, shell=True, capture_output=True, text=True, check=False, timeout=30,
                           env={"PGHOST": str(socket_dir), "PGPORT": port, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    outcome = CHECKS["db_remote_tls_only"](FakeHost(answers={"runuser -u postgres": Out(0, state.stdout)}), NODE)
    assert outcome.passed, (outcome.detail, state.stderr)
    with_plain = state.stdout + "7|host|10.22.146.10|255.255.255.255\n"
    outcome = CHECKS["db_remote_tls_only"](FakeHost(answers={"runuser -u postgres": Out(0, with_plain)}), NODE)
    assert not outcome.passed and "pg_hba line 7: host 10.22.146.10" in outcome.detail
    verified = _psql(libpq.dsn("test", host="127.0.0.1", port=port, dbname="portal", user="portal",
                               **libpq.verified(str(ca))))
    assert verified.returncode == 0 and verified.stdout.strip() == "t", verified.stderr
    plain = _psql(libpq.dsn("test", host="127.0.0.1", port=port, dbname="portal", user="portal", sslmode="disable"))
    assert plain.returncode != 0 and "no encryption" in plain.stderr
    # the server's certificate must carry the name connected to: another name is refused by the client
    renamed = _psql(libpq.dsn("test", host="localhost", port=port, dbname="portal", user="portal",
                              **libpq.verified(str(ca))))
    assert renamed.returncode != 0 and "does not match host name" in renamed.stderr


# --- the Prometheus stack: TLS and basic auth --------------------------------------------------


@pytest.fixture(scope="module")
def web_tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A host certificate for 127.0.0.1 from a lab CA, and a web config for user prometheus."""
    import bcrypt

    from egov.pki import Pki
    from monitoring.webconfig import web_config

    work = tmp_path_factory.mktemp("web")
    issued = Pki(work / "pki").issue("host-ops", ["dc-ops1", "127.0.0.1"], client_auth=True)
    files = {"cert": work / "host.crt", "key": work / "host.key", "ca": work / "ca.crt", "web": work / "web.yml"}
    files["cert"].write_text(issued.cert_pem)
    files["key"].write_text(issued.key_pem)
    files["ca"].write_text(issued.ca_pem)
    hashed = bcrypt.hashpw(b"scrape-pw", bcrypt.gensalt(10)).decode()
    files["web"].write_text(web_config(str(files["cert"]), str(files["key"]), {"prometheus": hashed}))
    return files


def test_promtool_accepts_the_web_config(web_tls: dict[str, Path]) -> None:
    promtool = _tool("promtool")
    checked = subprocess.run([promtool, "check", "web-config", str(web_tls["web"])], capture_output=True, text=True,
                             check=False, timeout=30)
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout + checked.stderr, checked.stderr


def _get(url: str, ca: Path | None = None, auth: tuple[str, str] | None = None) -> int | str:
    """200 when the metrics came, 401, or the error that stopped it (monitoring.api's own client)."""
    from egov.errors import MonitoringError
    from monitoring import api

    try:
        api.http_json("GET", url, ca_file=str(ca) if ca else None, auth=auth, timeout=5)
    except MonitoringError as exc:
        text = str(exc)
        return 401 if "HTTP 401" in text else 200 if "not JSON" in text else text  # metrics are not JSON
    return 200


def _wait_for_port(port: int, seconds: float = 10) -> None:
    import socket
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"nothing listens on 127.0.0.1:{port}")


def _status_of_an_endpoint(url: str, ca: Path) -> dict[str, int | str]:
    return {"with": _get(url, ca, ("prometheus", "scrape-pw")), "without": _get(url, ca),
            "wrong": _get(url, ca, ("prometheus", "nope")), "plain": _get(url.replace("https://", "http://"))}


def test_node_exporter_serves_tls_to_the_web_config_users_only(web_tls: dict[str, Path]) -> None:
    """Debian's node_exporter 1.5 with the deployed web config: 401 without the password, no plain HTTP."""
    exporter = _tool("prometheus-node-exporter")
    port = free_port()
    proc = subprocess.Popen([exporter, f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={web_tls['web']}",
                             "--collector.disable-defaults", "--collector.time"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port)
        seen = _status_of_an_endpoint(f"https://127.0.0.1:{port}/metrics", web_tls["ca"])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert seen["with"] == 200 and seen["without"] == 401 and seen["wrong"] == 401, seen
    assert seen["plain"] != 200 and "HTTP 400" in str(seen["plain"]), seen  # Go: "client sent HTTP to an HTTPS server"


def test_the_egov_exporter_serves_tls_to_the_web_config_users_only(web_tls: dict[str, Path]) -> None:
    """The egov exporter's own server (monitoring/exporter/webauth.py) answers as node_exporter does."""
    from prometheus_client import CollectorRegistry, Counter, make_wsgi_app

    from monitoring.exporter.webauth import serve_tls

    registry = CollectorRegistry()
    Counter("egov_test", "a test series", registry=registry).inc()
    port = free_port()
    server = serve_tls(make_wsgi_app(registry), "127.0.0.1", port, web_tls["web"])
    try:
        seen = _status_of_an_endpoint(f"https://127.0.0.1:{port}/metrics", web_tls["ca"])
    finally:
        server.shutdown()
        server.server_close()
    assert seen["with"] == 200 and seen["without"] == 401 and seen["wrong"] == 401, seen
    assert seen["plain"] != 200, seen


SS_EXPORTERS = ('tcp LISTEN 0 4096 *:9100 *:* users:(("prometheus-node",pid=9,fd=3))\n'
                'tcp LISTEN 0 4096 *:9187 *:* users:(("prometheus-post",pid=8,fd=3))\n'
                'tcp LISTEN 0 4096 127.0.0.1:9115 0.0.0.0:* users:(("prometheus-blac",pid=7,fd=3))\n'
                'udp UNCONN 0 0 0.0.0.0:9090 0.0.0.0:* users:(("x",pid=6,fd=3))\n')
DB = Node(name="dc-db1", roles=["db"], authenticated_ports=[9090, 9100, 9115, 9187])


def _probe_answers(answers: list[dict[str, object]]) -> Out:
    import json

    return Out(0, json.dumps(answers))


@pytest.mark.parametrize(("answers", "passed", "detail"), [
    ([{"status": 400}, {"status": 401}, {"error": "RemoteDisconnected"}, {"status": 401}], True, "9100, 9187"),
    ([{"status": 200}, {"status": 401}, {"status": 400}, {"status": 401}], False, "9100 answers plain HTTP (200)"),
    ([{"status": 400}, {"status": 200}, {"status": 400}, {"status": 401}], False,
     "9100 over TLS without credentials: 200"),
    ([{"status": 400}, {"status": 401}, {"status": 400}, {"error": "SSLCertVerificationError: unknown CA"}], False,
     "9187 over TLS without credentials: SSLCertVerificationError"),
])
def test_the_monitoring_endpoints_control(answers: list[dict[str, object]], passed: bool, detail: str) -> None:
    """Only what listens beyond loopback is probed (9115 here is loopback, 9090 absent), plain and TLS."""
    host = FakeHost(answers={"ss -Htlnup": Out(0, SS_EXPORTERS), "python3 -c": _probe_answers(answers)})
    outcome = CHECKS["monitoring_endpoints_authenticated"](host, DB)
    assert outcome.passed is passed and detail in outcome.detail, outcome.detail


def test_every_scrape_and_alert_goes_over_tls_as_prometheus() -> None:
    """The generated prometheus.yml (promtool-checked in test_monitoring_config): no plain job left."""
    import yaml

    from inventory import load_inventory
    from monitoring.config import generate

    inv = load_inventory(Path(__file__).resolve().parents[2] / "inventory" / "lab.yml")
    (server,) = generate(inv).values()
    config = yaml.safe_load(server.files["prometheus.yml"])
    for job in [*config["scrape_configs"], *config["alerting"]["alertmanagers"]]:
        name = job.get("job_name", "alertmanagers")
        assert job["scheme"] == "https", name
        assert job["tls_config"]["ca_file"] == "/usr/local/share/ca-certificates/egov-lab-ca.crt", name
        assert job["basic_auth"] == {"username": "prometheus", "password_file": "/etc/prometheus/scrape.password"}
        local = any("127.0.0.1" in str(r.get("replacement", "")) for r in job.get("relabel_configs", []))
        if local or name in ("prometheus", "blackbox"):  # asked at 127.0.0.1/localhost: the certificate's name
            assert job["tls_config"]["server_name"] == "dc-ops1", name
    assert yaml.safe_load(server.files["egov-exporter.yml"])["web_config"] == "/etc/prometheus/web.yml"


# --- DNS over TLS: a local node's unbound forwarding to a DC unbound, both real ---------------------


def _unbound(tmp: Path, name: str, rendered: str, port: int, tls_port: int | None = None) -> subprocess.Popen[str]:
    """A real unbound in the foreground on loopback, on the role's rendered config (its ports moved
    off the privileged ones, as root but not dropping to the unbound user, no chroot, and allowed
    to ask an upstream on loopback)."""
    binary = _tool("unbound", "/usr/sbin/unbound")
    config = rendered.replace("interface: 0.0.0.0@853", f"interface: 127.0.0.1@{tls_port}")
    config = config.replace("interface: 0.0.0.0", "interface: 127.0.0.1").replace("port: 53\n", f"port: {port}\n")
    config = config.replace("tls-port: 853", f"tls-port: {tls_port}").replace("@853#", f"@{tls_port}#")
    path = tmp / f"{name}.conf"
    path.write_text(config.replace("server:\n", f'server:\n    username: ""\n    chroot: ""\n    directory: "{tmp}"\n'
                                   f'    pidfile: "{tmp}/{name}.pid"\n    use-syslog: no\n    verbosity: 1\n'
                                   '    do-not-query-localhost: no\n', 1))
    checked = subprocess.run([_tool("unbound-checkconf", "/usr/sbin/unbound-checkconf"), str(path)],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return subprocess.Popen([binary, "-d", "-c", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _ask(port: int, name: str, timeout: float = 10.0) -> bytes:
    """One UDP question for ``name``'s A record to 127.0.0.1:``port``; the reply (retried until ``timeout``)."""
    import socket
    import struct
    import time

    query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1)
            try:
                s.sendto(query, ("127.0.0.1", port))
                return s.recv(4096)
            except OSError:
                if time.monotonic() > deadline:
                    raise


def test_a_local_node_resolves_the_dc_zone_over_tls_only(web_tls: dict[str, Path], tmp_path: Path) -> None:
    """The DC role's unbound serves the zone over TLS besides plain DNS; the local node's unbound,
    told of the DC's TLS port alone and checking the name against the CA, answers it; told to expect
    a name the DC's certificate does not carry, it answers SERVFAIL."""
    import socket
    import struct

    zone, record = "quangninh.gov.vn", ("dc-db1.quangninh.gov.vn", "10.22.176.20")
    dc_port, tls_port, node_port = free_port(), free_port(), free_port()
    dc_conf = render("dns", "unbound.conf.j2", zone=zone, records=[record], allow=["127.0.0.0/8"], forwarders=[],
                     tls_port=853, cert=str(web_tls["cert"]), key=str(web_tls["key"]))

    def node(name: str) -> str:
        return render("local_node", "unbound.conf.j2", networks=[], zone=zone, tls_port=853, ca=str(web_tls["ca"]),
                      forwarders=[("127.0.0.1", name)])

    # the node is told of the DC's TLS port only: nothing it asks can go to the DC's port 53
    dc = _unbound(tmp_path, "dc", dc_conf, dc_port, tls_port)
    good = bad = None
    try:
        good = _unbound(tmp_path, "node", node("dc-ops1"), node_port, tls_port)  # the name the certificate carries
        reply = _ask(node_port, record[0])
        assert struct.unpack(">H", reply[6:8])[0] == 1 and socket.inet_ntoa(reply[-4:]) == record[1], reply
        # NET-05's probe, run as verify runs it on a node (its trust store: the platform CA)
        assert _dot_probe(web_tls, tls_port, "dc-ops1", record[0]) == {"rcode": 0, "answers": 1, "id_ok": True}
        assert "CERTIFICATE_VERIFY_FAILED" in str(_dot_probe(web_tls, tls_port, "dc-other", record[0])["error"])
        good.terminate()
        good.wait(10)
        bad = _unbound(tmp_path, "node-bad", node("dc-other"), free_port(), tls_port)  # a name it does not carry
        bad_port = int(next(line.split()[1] for line in (tmp_path / "node-bad.conf").read_text().splitlines()
                            if line.strip().startswith("port:")))
        reply = _ask(bad_port, record[0])
        assert reply[3] & 0xF == 2, f"answered without a valid certificate: rcode {reply[3] & 0xF}"  # SERVFAIL
    finally:
        for process in (dc, good, bad):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(10)


def _dot_probe(web_tls: dict[str, Path], port: int, server_name: str, name: str) -> dict[str, object]:
    import json
    import os
    import sys

    from verify.probe import SCRIPT

    spec = {"kind": "dns", "tls": True, "server": "127.0.0.1", "port": port, "server_name": server_name, "name": name}
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps([spec])], capture_output=True, text=True,
                          check=True, timeout=30, env={**os.environ, "SSL_CERT_FILE": str(web_tls["ca"])})
    return dict(json.loads(done.stdout.splitlines()[-1])[0])


NODE_DNS = Node(name="qn-ty-node1", roles=["local_node"], resolver_name="dc-app1.quangninh.gov.vn",
                dns_tls=[("10.22.146.10", "dc-app1.quangninh.gov.vn"), ("10.22.146.11", "dc-app2.quangninh.gov.vn")])
ANSWERED = Out(0, '[{"rcode": 0, "answers": 1, "id_ok": true}, {"rcode": 0, "answers": 1, "id_ok": true}]')
# unbound.conf(5)'s own forward-zone example, and the ways it goes wrong
DOT_ZONE = """server:
    tls-cert-bundle: "/etc/ssl/certs/ca-certificates.crt"
forward-zone:
    name: "."
    forward-tls-upstream: yes  # every upstream over TLS
    forward-addr: 10.22.146.10@853#dc-app1.quangninh.gov.vn
    forward-addr: 10.22.146.11@853#dc-app2.quangninh.gov.vn
"""


@pytest.mark.parametrize(("config", "probe", "problem"), [
    (DOT_ZONE, ANSWERED, ""),
    (DOT_ZONE.replace("forward-tls-upstream: yes", "forward-tls-upstream: no"), ANSWERED,
     "a forward zone without forward-tls-upstream: yes"),
    (DOT_ZONE.replace("10.22.146.11@853#dc-app2.quangninh.gov.vn", "10.22.146.11"), ANSWERED,
     "forward-addr 10.22.146.11 in clear"),
    ("server:\n    interface: 0.0.0.0\n", ANSWERED, "no forward zone"),
    # a second zone, in clear, after the good one (another file of the include directory)
    (DOT_ZONE + "forward-zone:\n    name: \"example.\"\n    forward-addr: 192.0.2.1\n", ANSWERED,
     "a forward zone without forward-tls-upstream: yes; forward-addr 192.0.2.1 in clear"),
    (DOT_ZONE, Out(0, '[{"error": "SSLCertVerificationError: hostname mismatch"}, {"rcode": 0, "answers": 1}]'),
     "dc-app1.quangninh.gov.vn (10.22.146.10:853) over TLS: SSLCertVerificationError"),
])
def test_net05_passes_only_a_resolver_that_forwards_over_tls(config: str, probe: Out, problem: str) -> None:
    host = FakeHost(answers={"cat /etc/unbound": Out(0, config), "python3 -c": probe})
    outcome = CHECKS["resolver_forwards_over_tls"](host, NODE_DNS)
    assert outcome.passed == (not problem) and problem in outcome.detail, outcome.detail


def test_the_dns_over_tls_port_is_open_for_tcp_only(tmp_path: Path) -> None:
    """unbound 1.17 binds UDP on its TLS port too (plain DNS): NET-02 expects that listener, the
    firewall, as nft reads it, keeps it closed."""
    from inventory import load_inventory
    from verify.catalogue import load_catalogue
    from verify.engine import node_for

    inv = load_inventory("inventory/lab.yml")
    dns = inv.hosts_with_role("dns")[0]
    ruleset = _nft_listed(tmp_path, firewall_rules(list(dns.roles), [], dns.vars, dns.name))
    assert "tcp dport 853 accept" in ruleset and "udp dport 853" not in ruleset, ruleset
    assert {("tcp", 853), ("udp", 853)} <= node_for(inv, dns, load_catalogue()).ports


# --- NTS: a real chrony time server and real clients, on the configs base and ntp render ----------


def _chronyd(tmp: Path, name: str, rendered: str, port: int, nts_port: int) -> tuple[subprocess.Popen[str], Path]:
    """A real chronyd in the foreground on ``rendered`` (checked by ``chronyd -p`` first), its NTP
    and NTS-KE ports moved off the standard ones, its state in ``tmp``, not touching the clock
    (``-x``, as in the lab's containers); and its command socket, for chronyc."""
    binary = _tool("chronyd", "/usr/sbin/chronyd")
    state = tmp / name
    state.mkdir(mode=0o700)
    config = (rendered.replace("ntsport 4460", f"ntsport {nts_port}")
              .replace(" iburst nts", f" port {port} ntsport {nts_port} iburst nts")
              .replace("/var/lib/chrony", str(state)).replace("/var/log/chrony", str(state))
              .replace("keyfile /etc/chrony/chrony.keys\n", "").replace("rtcsync\n", ""))
    socket = state / "chronyd.sock"
    # a server (it allows clients) answers NTP on ``port``; a client sends from an ephemeral port and serves no one
    config += f"port {port if 'allow ' in rendered else 0}\nbindcmdaddress {socket}\npidfile {state}/pid\n"
    path = state / "chrony.conf"
    path.write_text(config)
    checked = subprocess.run([binary, "-p", "-f", str(path)], capture_output=True, text=True, check=False, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    process = subprocess.Popen([binary, "-d", "-x", "-u", "root", "-f", str(path)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    return process, socket


def _chronyc(socket: Path, command: str) -> str:
    return subprocess.run([_tool("chronyc", "/usr/bin/chronyc"), "-h", str(socket), "-n", command],
                          capture_output=True, text=True, check=True, timeout=30).stdout


def _wait_for_time(socket: Path, seconds: float = 30) -> str:
    """``chronyc tracking`` once the client is synchronised (its leap status Normal)."""
    import time

    deadline = time.monotonic() + seconds
    while "Leap status     : Normal" not in (tracking := _chronyc(socket, "tracking")):
        assert time.monotonic() < deadline, tracking
        time.sleep(0.5)
    return tracking


def test_every_host_takes_its_time_over_nts_checked_for_the_servers_address(web_tls: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    """The ntp role's chrony serves NTS with the host certificate (for 127.0.0.1); base's client,
    told of that address, synchronises with every packet authenticated and passes SRV-10; a client
    told of an address the certificate lacks (127.0.0.2, the same server) gets no keys, stays
    unsynchronised, and fails SRV-10."""
    port, nts_port = free_port(), free_port()
    server_conf = render("base", "chrony.conf.j2", servers=[], nts_servers=[], peers=[], allow=["127.0.0.0/8"],
                         local_stratum=8, ca="", nts_cert=str(web_tls["cert"]), nts_key=str(web_tls["key"]),
                         nts_port=4460)

    def client(address: str) -> str:
        return render("base", "chrony.conf.j2", servers=[], nts_servers=[address], peers=[], allow=[],
                      local_stratum=0, ca=str(web_tls["ca"]), nts_cert="", nts_key="", nts_port=4460)

    processes = []
    try:
        server, server_socket = _chronyd(tmp_path, "server", server_conf, port, nts_port)
        good, good_socket = _chronyd(tmp_path, "good", client("127.0.0.1"), port, nts_port)
        bad, bad_socket = _chronyd(tmp_path, "bad", client("127.0.0.2"), port, nts_port)
        processes = [server, good, bad]
        assert "Reference ID    : 7F000001" in _wait_for_time(good_socket)
        stats = _chronyc(server_socket, "serverstats")
        counted = re.search(r"Authenticated NTP packets\s*:\s*(\d+)", stats)
        assert counted and int(counted.group(1)) > 0, stats
        node = Node(name="qn-ty-node1", roles=["local_node"], ntp_servers=["127.0.0.1", "127.0.0.2"])
        outcome = CHECKS["time_over_nts"](FakeHost(answers={"chronyc -n authdata": Out(0, _chronyc(
            good_socket, "authdata"))}), node)
        assert outcome.passed and outcome.detail == "NTS from 127.0.0.1", outcome.detail
        bad_authdata = _chronyc(bad_socket, "authdata")
        assert "Leap status     : Not synchronised" in _chronyc(bad_socket, "tracking")
        outcome = CHECKS["time_over_nts"](FakeHost(answers={"chronyc -n authdata": Out(0, bad_authdata)}), node)
        assert not outcome.passed and "127.0.0.2: NTS without keys (no cookie" in outcome.detail, bad_authdata
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


# chronyc(1)'s authdata, as chronyc prints it: an NTS source with cookies, a plain one, a symmetric key
AUTHDATA = """Name/IP address             Mode KeyID Type KLen Last Atmp  NAK Cook CLen
=========================================================================
10.22.146.10                 NTS     1   15  256   33    0    0    8  100
10.22.146.11                 NTS     1   15  256   33    0    0    8  100
"""


@pytest.mark.parametrize(("authdata", "problem"), [
    (AUTHDATA, ""),
    (AUTHDATA.replace("10.22.146.11                 NTS     1   15  256   33    0    0    8  100",
                      "10.22.146.11                   -     0    0    0    -    0    0    0    0"),
     "10.22.146.11 in mode -"),
    (AUTHDATA.replace("10.22.146.11                 NTS     1   15  256   33    0    0    8  100",
                      "10.22.146.11                 SYM     1    2  160   12    0    0    0    0"),
     "10.22.146.11 in mode SYM"),
    (AUTHDATA + "192.0.2.1                    NTS     1   15  256   40    0    0    8  100\n",
     "192.0.2.1: not a DC time server"),
    (AUTHDATA.splitlines()[0] + "\n" + "=" * 73 + "\n", "lists no source"),
])
def test_srv10_passes_only_nts_from_the_dc_time_servers(authdata: str, problem: str) -> None:
    node = Node(name="dc-db1", roles=["db"], ntp_servers=["10.22.146.10", "10.22.146.11", "dc-app1", "dc-app2"])
    outcome = CHECKS["time_over_nts"](FakeHost(answers={"chronyc -n authdata": Out(0, authdata)}), node)
    assert outcome.passed == (not problem) and problem in outcome.detail, outcome.detail


@pytest.mark.parametrize(("config", "passed"), [
    ("ntsservercert /etc/ssl/egov/host.crt\nntsserverkey /etc/ssl/egov/host.key\nlocal stratum 8 orphan\n", True),
    ("ntsservercert /etc/ssl/egov/host.crt\n# ntsserverkey /etc/ssl/egov/host.key\n", False),
    ("server 192.0.2.1 iburst\nallow 10.0.0.0/8\n", False),
])
def test_srv10_wants_a_time_server_to_serve_nts(config: str, passed: bool) -> None:
    node = Node(name="dc-app1", roles=["ntp", "dns"])
    outcome = CHECKS["time_over_nts"](FakeHost(answers={"cat /etc/chrony": Out(0, config)}), node)
    assert outcome.passed == passed, outcome.detail


# --- NTP keys: the vendor routers' symmetric keys, on a real chrony time server -----------------


def test_the_time_servers_answer_each_vendor_router_signed_with_its_own_key(tmp_path: Path) -> None:
    """The ntp role's key file holds every vendor router's key (inventory/ntp_keys.py): a client
    signing with a router's key id and key, in that platform's MAC as chrony names it (AES128 for
    IOS XE's cmac-aes-128, SHA256 for Junos, MD5 for VRP), is answered signed and synchronises; one
    with another router's key under its id gets no answer it accepts and stays unsynchronised."""
    from inventory import load_inventory, ntp_keys

    inv = load_inventory("tests/fixtures/network/platforms.yml")
    seed = "a-seed-of-sixteen-or-more"
    keys = {r.name: key for r in inv.routers.values()
            if (key := ntp_keys.router_key(r, inv.plan.pools["loopback"], seed)) is not None}
    assert {k.chrony_mac for k in keys.values()} == {"AES128", "SHA256", "MD5"}
    assert len({k.id for k in keys.values()}) == len(keys)  # one id per router
    assert all(len(k.key) == ntp_keys.KEY_LENGTH and k.key.isalnum() for k in keys.values())
    key_file = tmp_path / "chrony.keys"
    key_file.write_text(render("ntp", "chrony.keys.j2", keys=sorted(keys.values(), key=lambda k: k.id)))
    port = free_port()
    server_conf = render("base", "chrony.conf.j2", servers=[], nts_servers=[], peers=[], allow=["127.0.0.0/8"],
                         local_stratum=8, ca="", nts_cert="", nts_key="", nts_port=4460)

    def router_client(name: str, key: ntp_keys.RouterKey) -> str:
        """A client as a router is: the DC server, signed with the key id and key it holds."""
        own = tmp_path / f"{name}.keys"
        own.write_text(f"{key.id} {key.chrony_mac} ASCII:{key.key}\n")
        return f"server 127.0.0.1 port {port} key {key.id} iburst minpoll 0 maxpoll 0\nkeyfile {own}\n"

    by_platform = {inv.routers[n].platform: n for n in sorted(keys)}
    ios, junos, vrp = by_platform["cisco_ios"], by_platform["juniper_junos"], by_platform["huawei_vrp"]
    wrong = ntp_keys.RouterKey(keys[ios].id, keys[junos].key[:16], "cmac-aes-128", "AES128")
    processes = []
    try:
        server, server_socket = _chronyd(tmp_path, "server", server_conf + f"keyfile {key_file}\n", port, 0)
        processes.append(server)
        clients = {}
        for name, key in ((ios, keys[ios]), (junos, keys[junos]), (vrp, keys[vrp]), ("wrong", wrong)):
            process, socket = _chronyd(tmp_path, name, router_client(name, key), port, 0)
            processes.append(process)
            clients[name] = (socket, key)
        for name in (ios, junos, vrp):
            socket, key = clients[name]
            assert "Reference ID    : 7F000001" in _wait_for_time(socket), name
            authdata = _chronyc(socket, "authdata")
            assert re.search(rf"^127\.0\.0\.1\s+SK\s+{key.id}\s", authdata, re.M), authdata  # symmetric key
        stats = _chronyc(server_socket, "serverstats")
        counted = re.search(r"Authenticated NTP packets\s*:\s*(\d+)", stats)
        assert counted and int(counted.group(1)) >= 3, stats
        assert "Leap status     : Not synchronised" in _chronyc(clients["wrong"][0], "tracking")
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


def test_a_vendor_routers_config_holds_the_key_the_time_servers_hold() -> None:
    """What each vendor template renders (key id, MAC, key, each DC server signed with it) is the
    router's key of inventory/ntp_keys.py; FRR routers, Linux hosts, render none."""
    from egov.secrets import Secrets, redact
    from inventory import load_inventory, ntp_keys
    from network.render import render as render_router

    inv = load_inventory("tests/fixtures/network/platforms.yml")
    secrets = Secrets(None)
    seed = str(secrets.get("ntp_key_seed"))
    servers = [str(h.server_ip) for h in inv.hosts_with_role("ntp")]
    for router in inv.routers.values():
        text = render_router(inv, router, secrets)
        key = ntp_keys.router_key(router, inv.plan.pools["loopback"], seed)
        if key is None:
            assert "key" not in " ".join(line for line in text.splitlines() if "ntp" in line), router.name
            continue
        expected = {
            "cisco_ios": [f"ntp authentication-key {key.id} cmac-aes-128 {key.key}", "ntp authenticate",
                          f"ntp trusted-key {key.id}", *(f"ntp server {s} key {key.id}" for s in servers)],
            "huawei_vrp": ["ntp-service authentication enable",
                           f"ntp-service authentication-keyid {key.id} authentication-mode md5 cipher {key.key}",
                           f"ntp-service reliable authentication-keyid {key.id}",
                           *(f"ntp-service unicast-server {s} authentication-keyid {key.id}" for s in servers)],
            "juniper_junos": [f'authentication-key {key.id} type sha256 value "{key.key}";',
                              *(f"server {s} key {key.id};" for s in servers), f"trusted-key {key.id};"],
        }[router.platform]
        lines = [line.strip() for line in text.splitlines()]
        assert all(line in lines for line in expected), (router.name, expected)
        assert key.key not in redact(text)  # the derived key is a secret like the seed


# --- Packages: apt and squid to the DC mirror over TLS ------------------------------------------


@contextmanager
def _tls_front(cert_pem: str, key_pem: str, where: Path) -> Iterator[tuple[int, list[str]]]:
    """A TLS server on 127.0.0.1 standing in for the mirror's nginx: it records the request line of
    each session it completes a handshake for, and answers 404."""
    import socket
    import ssl

    from tests.support.loopback import serving

    (where / "front.crt").write_text(cert_pem)
    (where / "front.key").write_text(key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(where / "front.crt", where / "front.key")
    seen: list[str] = []

    def serve(conn: socket.socket) -> None:
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(5)
                seen.append(tls.recv(4096).split(b"\r\n")[0].decode())
                tls.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except (OSError, ssl.SSLError):
            pass  # the client refused our certificate

    with serving(serve) as port:
        yield port, seen


def _certificates(tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """The platform CA's file, and the certificates a mirror might show: its own (for its address),
    one of the same CA for another address, one of another CA for its address."""
    from egov.pki import Pki

    pki = Pki(tmp_path / "pki")
    ca = tmp_path / "platform-ca.crt"
    ca.write_text(pki.ca_pem())
    ca.chmod(0o644)
    # as base issues a host's: its name, its name in the domain, its address
    names = ["dc-ops1", "dc-ops1.quangninh.gov.vn", "127.0.0.1"]
    return str(ca), {"mirror": pki.issue("host-dc-ops1", names, client_auth=True),
                     "other name": pki.issue("host-dc-db1", ["dc-db1", "dc-db1.quangninh.gov.vn", "10.22.146.12"],
                                             client_auth=True),
                     "other CA": Pki(tmp_path / "rogue").issue("host-dc-ops1", names)}


def _apt_update(tmp_path: Path, ca: str, port: int) -> str:
    """``apt-get update`` of bookworm's main in the real apt, with base's proxy configuration for a
    mirror at 127.0.0.1:``port``, on lists of its own in ``tmp_path``; what apt said."""
    apt_get = _tool("apt-get", "/usr/bin/apt-get")
    (tmp_path / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (tmp_path / "sources.list").write_text("deb http://deb.debian.org/debian bookworm main\n")
    conf = tmp_path / "90egov-mirror"
    conf.write_text(render("base", "apt-proxy.conf.j2", proxy=f"https://127.0.0.1:{port}/", mirror="127.0.0.1", ca=ca))
    done = subprocess.run([apt_get, "-c", str(conf), "-o", f"Dir::Etc::sourcelist={tmp_path / 'sources.list'}",
                           "-o", "Dir::Etc::sourceparts=/nonexistent", "-o", f"Dir::State::Lists={tmp_path / 'lists'}",
                           "-o", "APT::Sandbox::User=root", "-o", "Acquire::Retries=0", "update"],
                          capture_output=True, text=True, check=False, timeout=60)
    return done.stdout + done.stderr


def test_apt_asks_the_mirror_over_tls_and_checks_its_certificate_for_its_address(tmp_path: Path) -> None:
    """base's apt configuration in the real apt (2.6): the proxy request goes inside TLS, and apt
    refuses a mirror certificate for another address or of another CA before sending anything."""
    ca, certs = _certificates(tmp_path)
    with _tls_front(certs["mirror"].cert_pem, certs["mirror"].key_pem, tmp_path) as (port, seen):
        said = _apt_update(tmp_path, ca, port)
    assert "GET http://deb.debian.org/debian/dists/bookworm/InRelease HTTP/1.1" in seen, said
    assert "404" in said
    for which in ("other name", "other CA"):
        with _tls_front(certs[which].cert_pem, certs[which].key_pem, tmp_path) as (port, seen):
            said = _apt_update(tmp_path, ca, port)
        assert seen == [], f"{which}: apt sent {seen}"
        assert "Certificate verification failed" in said or "certificate" in said.lower(), said


def test_a_local_nodes_squid_reaches_the_mirror_over_tls_only_with_its_certificate(tmp_path: Path) -> None:
    """local_node's squid.conf in the real squid-openssl (ports and paths moved onto loopback): a
    client's request reaches the mirror inside TLS; a certificate for another host, or of another
    CA, gets nothing."""
    import tempfile
    import time
    import urllib.error
    import urllib.request

    ca, certs = _certificates(tmp_path)
    squid = _tool("squid", "/usr/sbin/squid")
    # squid drops to its own user: its files live where that user may read and write them
    work = Path(tempfile.mkdtemp(prefix="egov-squid-", dir="/tmp"))
    work.chmod(0o755)
    shutil.copy(ca, work / "ca.crt")
    (work / "ca.crt").chmod(0o644)
    if subprocess.run(["id", "proxy"], capture_output=True, check=False).returncode == 0:
        shutil.chown(work, "proxy")

    def fetch(port: int) -> int | str:
        listen = free_port()
        text = render("local_node", "squid.conf.j2", networks=["127.0.0.0/8"], port=listen, mirror="127.0.0.1",
                      mirror_name="dc-ops1.quangninh.gov.vn", mirror_port=port, ca=str(work / "ca.crt"), cache_mb=16,
                      max_object_mb=1)
        assert "tls tls-cafile=" in text and " parent " in text
        text = "\n".join(line for line in text.splitlines() if not line.startswith(("cache_dir", "access_log")))
        text = text.replace(f"http_port {listen}", f"http_port 127.0.0.1:{listen}")
        text = text.replace("/var/spool/squid", str(work))
        (work / "squid.conf").write_text(text + f"\npid_filename {work}/squid.pid\ncache_log {work}/cache.log\n"
                                                "access_log none\nshutdown_lifetime 0 seconds\n")
        daemon = subprocess.Popen([squid, "-N", "-f", str(work / "squid.conf")], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.STDOUT)
        try:
            proxy = urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{listen}"})
            deadline = time.monotonic() + 20
            while True:
                try:
                    urllib.request.build_opener(proxy).open("http://deb.debian.org/debian/dists/bookworm/Release",
                                                            timeout=10)
                    return 200
                except urllib.error.HTTPError as exc:
                    return exc.code
                except OSError as exc:
                    if time.monotonic() > deadline:
                        return f"{exc}"
                    time.sleep(0.3)
        finally:
            daemon.terminate()
            daemon.wait(timeout=20)

    try:
        with _tls_front(certs["mirror"].cert_pem, certs["mirror"].key_pem, tmp_path) as (port, seen):
            assert fetch(port) == 404  # the mirror's answer, passed on
        assert seen == ["GET http://deb.debian.org/debian/dists/bookworm/Release HTTP/1.1"]
        for which in ("other name", "other CA"):
            with _tls_front(certs[which].cert_pem, certs[which].key_pem, tmp_path) as (port, seen):
                refused = fetch(port)
            assert seen == [] and refused != 404, (which, refused, seen)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def _cache_stand_in() -> Iterator[tuple[int, list[str]]]:
    """An HTTP server on 127.0.0.1 standing in for apt-cacher-ng: it records each request's
    method and target, and answers 404."""
    import http.server

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(f"{self.command} {self.path}")
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET

        def log_message(self, *args: Any) -> None:
            pass

    with http_serving(Handler) as port:
        yield port, seen


def test_the_mirrors_nginx_hands_apt_cacher_ng_the_request_apt_sent_inside_tls(tmp_path: Path) -> None:
    """The mirror role's nginx site in the real nginx (``nginx -t`` first, its ports on loopback):
    the real apt, as base configures it, asks through it over TLS, and apt-cacher-ng gets its own
    form of the request (``/<host>/<path>``); ``/healthz`` is nginx's own answer; nothing but GET
    and HEAD passes; plain HTTP on the TLS port is refused."""
    import http.client
    import ssl

    nginx = _tool("nginx", "/usr/sbin/nginx")
    ca, certs = _certificates(tmp_path)
    (tmp_path / "mirror.crt").write_text(certs["mirror"].cert_pem)
    (tmp_path / "mirror.key").write_text(certs["mirror"].key_pem)
    port = free_port()
    with _cache_stand_in() as (cache_port, seen):
        site = render("mirror", "mirror-tls.conf.j2", port=port, cache_port=cache_port,
                      cert=str(tmp_path / "mirror.crt"), key=str(tmp_path / "mirror.key"))
        site = site.replace(f"listen {port} ssl", f"listen 127.0.0.1:{port} ssl").replace(
            "/var/log/nginx/egov-mirror.access.log", str(tmp_path / "access.log"))
        (tmp_path / "site.conf").write_text(site)
        temp = {k: tmp_path / k for k in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        (tmp_path / "nginx.conf").write_text(
            f"daemon off;\nmaster_process off;\nuser root;\npid {tmp_path}/nginx.pid;\n"
            f"error_log {tmp_path}/error.log;\nevents {{}}\nhttp {{\n"
            f"client_body_temp_path {temp['body']};\nproxy_temp_path {temp['proxy']};\n"
            f"fastcgi_temp_path {temp['fastcgi']};\nuwsgi_temp_path {temp['uwsgi']};\n"
            f"scgi_temp_path {temp['scgi']};\ninclude {tmp_path}/site.conf;\n}}\n")
        argv = [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
        checked = subprocess.run([*argv, "-t", "-q"], capture_output=True, text=True, check=False, timeout=30)
        assert checked.returncode == 0, checked.stderr
        daemon = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for_port(port)
            said = _apt_update(tmp_path, ca, port)
            ctx = ssl.create_default_context(cafile=ca)
            answers = {}
            for method, path in (("GET", "/healthz"), ("POST", "/deb.debian.org/debian/x")):
                conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
                conn.request(method, path)
                response = conn.getresponse()
                answers[method] = (response.status, response.read().decode())
                conn.close()
            plain = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            plain.request("GET", "/healthz")
            answers["plain"] = (plain.getresponse().status, "")
        finally:
            daemon.terminate()
            daemon.wait(timeout=20)
    assert "GET /deb.debian.org/debian/dists/bookworm/InRelease" in seen, (seen, said)
    assert "404" in said, said  # apt-cacher-ng's answer, passed on to apt
    assert answers["GET"] == (200, "ok\n") and answers["POST"][0] == 403, answers
    assert answers["plain"][0] == 400, answers  # nginx: "The plain HTTP request was sent to HTTPS port"
    assert not any("healthz" in line or "POST" in line for line in seen), seen


# NET-06 on what the hosts print: ss(8)'s listeners, apt-config(8)'s dump (`Key "value";`), squid.conf
MIRROR_SS = ('tcp LISTEN 0 100 127.0.0.1:3142 0.0.0.0:* users:(("apt-cacher-ng",pid=9,fd=3))\n'
             'tcp LISTEN 0 511 0.0.0.0:3143 0.0.0.0:* users:(("nginx",pid=8,fd=6))\n')
APT_TLS = ('Acquire::http::Proxy "https://10.22.146.14:3143/";\n'
           'Acquire::https::10.22.146.14::CaInfo "/etc/apt/egov-mirror-ca.crt";\n')
SQUID_TLS = render("local_node", "squid.conf.j2", networks=["10.22.176.0/24"], port=3128, mirror="10.22.146.14",
                   mirror_name="dc-ops1.quangninh.gov.vn", mirror_port=3143, ca="/etc/ca.crt", cache_mb=16,
                   max_object_mb=1)
SQUID_PLAIN = "cache_peer 10.22.146.14 parent 3142 0 no-query no-digest default name=dc_mirror\n"
MIRROR = Node(name="dc-ops1", roles=["mirror"])
CLIENT = Node(name="dc-db1", roles=["db"], package_mirror="10.22.146.14")
LOCAL = Node(name="qn-ty-node1", roles=["local_node"], package_mirror="10.22.146.14")
TLS_OK, PLAIN_CLOSED = {"status": 200}, {"error": "ConnectionRefusedError: [Errno 111] Connection refused"}


@pytest.mark.parametrize(("node", "answers", "passed", "detail"), [
    (MIRROR, {"ss": MIRROR_SS, "probe": [TLS_OK]}, True, "apt-cacher-ng on the loopback"),
    (MIRROR, {"ss": MIRROR_SS.replace("127.0.0.1:3142", "0.0.0.0:3142"), "probe": [TLS_OK]}, False,
     "apt-cacher-ng (3142) in clear on 0.0.0.0"),
    (MIRROR, {"ss": MIRROR_SS, "probe": [{"error": "ConnectionRefusedError"}]}, False, "no TLS in front"),
    (MIRROR, {"ss": MIRROR_SS, "probe": [{"status": 502}]}, False,
     "no TLS in front of apt-cacher-ng on 3143: answers 502"),
    (CLIENT, {"apt": APT_TLS, "probe": [TLS_OK, PLAIN_CLOSED]}, True, "its plain port closed"),
    (CLIENT, {"apt": 'Acquire::http::Proxy "http://10.22.146.14:3142";\n', "probe": [TLS_OK, PLAIN_CLOSED]},
     False, "apt's proxy is http://10.22.146.14:3142, not https://10.22.146.14:3143/"),
    (CLIENT, {"apt": "", "probe": [TLS_OK, PLAIN_CLOSED]}, False, "apt's proxy is unset"),
    (CLIENT, {"apt": APT_TLS, "probe": [TLS_OK, {"status": 200}]}, False, "answers plain HTTP on 10.22.146.14:3142"),
    (CLIENT, {"apt": APT_TLS, "probe": [{"error": "SSLCertVerificationError: IP address mismatch"}, PLAIN_CLOSED]},
     False, "IP address mismatch"),
    (LOCAL, {"apt": APT_TLS, "squid": SQUID_TLS, "probe": [TLS_OK, PLAIN_CLOSED]}, True, "certificate checked"),
    (LOCAL, {"apt": APT_TLS, "squid": SQUID_PLAIN, "probe": [TLS_OK, PLAIN_CLOSED]}, False,
     "squid's parent in clear: cache_peer 10.22.146.14 parent 3142"),
    (LOCAL, {"apt": APT_TLS, "squid": "http_port 3128\n", "probe": [TLS_OK, PLAIN_CLOSED]}, False,
     "squid has no parent"),
])
def test_the_packages_over_tls_control(node: Node, answers: dict[str, Any], passed: bool, detail: str) -> None:
    import json

    host = FakeHost(answers={"ss -Htlnup": Out(0, answers.get("ss", "")),
                             "apt-config dump": Out(0, answers.get("apt", "")),
                             "cat /etc/squid/squid.conf": Out(0, answers.get("squid", "")),
                             "python3 -c": Out(0, json.dumps(answers["probe"]))})
    outcome = CHECKS["packages_over_tls"](host, node)
    assert outcome.passed is passed and detail in outcome.detail, outcome.detail


def test_the_packages_control_probes_the_mirror_by_its_address_over_tls_and_its_plain_port() -> None:
    """The TLS probe names the address (the certificate must carry it, as apt checks), the plain one
    asks apt-cacher-ng's own port."""
    import json

    host = FakeHost(answers={"apt-config dump": Out(0, APT_TLS),
                             "python3 -c": Out(0, json.dumps([TLS_OK, PLAIN_CLOSED]))})
    assert CHECKS["packages_over_tls"](host, CLIENT).passed
    (probe,) = [c for c in host.commands if c.startswith("python3 -c")]
    specs = json.loads(shlex.split(probe)[-1])
    assert [(s["connect"], s["port"], s["path"], s["tls"], s.get("server_name")) for s in specs] == [
        ("10.22.146.14", 3143, "/healthz", True, "10.22.146.14"), ("10.22.146.14", 3142, "/", False, None)]


def test_a_host_with_no_mirror_to_go_through_passes_the_packages_control() -> None:
    outcome = CHECKS["packages_over_tls"](FakeHost(), Node(name="x", roles=["db"]))
    assert outcome.passed and "no DC mirror" in outcome.detail
