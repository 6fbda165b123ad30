"""Each check of the standard: command output in, verdict out (like pyinfra's fact tests)."""

from __future__ import annotations

import json
import shlex

import pytest

from tests.support.fake_host import FakeHost, Out
from verify.checks import CHECKS, Node
from verify.checks.network import parse_listeners

NODE = Node(name="dc-app1", roles=["web", "app_portal"], ports={("tcp", 22), ("tcp", 443), ("tcp", 8103)},
            services=["ssh", "nginx"], apps={"app_portal": 8103}, app_configs={"app_portal": "/etc/egov/portal.ini"},
            proxied={"app_portal": "/portal/"}, ntp_servers=["10.22.146.10", "10.22.146.11"],
            log_targets=["10.22.146.14", "dc-ops1"], tls_name="portal.quangninh.gov.vn", proxy_port=8443,
            entry=("10.22.176.5", 443),
            resolver_name="dc-app1.quangninh.gov.vn")

SS = """\
tcp   LISTEN 0 128    0.0.0.0:22    0.0.0.0:* users:(("sshd",pid=80,fd=3))
tcp   LISTEN 0 511    0.0.0.0:443   0.0.0.0:* users:(("nginx",pid=90,fd=6))
tcp   LISTEN 0 5      0.0.0.0:8103  0.0.0.0:* users:(("python3",pid=99,fd=3))
tcp   LISTEN 0 100    127.0.0.1:25  0.0.0.0:* users:(("master",pid=70,fd=13))
udp   UNCONN 0 0      [::1]:323     [::]:*    users:(("chronyd",pid=60,fd=6))
tcp   LISTEN 0 128    [::]:22       [::]:*    users:(("sshd",pid=80,fd=4))
"""


def run(check: str, answers: dict[str, Out], node: Node = NODE, **params: object) -> tuple[bool, str]:
    outcome = CHECKS[check](FakeHost(answers=answers), node, **params)
    return outcome.passed, outcome.detail


def test_parse_listeners_handles_v4_v6_and_scopes() -> None:
    rows = parse_listeners(SS + 'udp UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:* users:(("systemd-resolve",pid=1,fd=1))\n')
    assert ("tcp", "0.0.0.0", 22, "sshd") in rows
    assert ("tcp", "::", 22, "sshd") in rows
    assert ("udp", "::1", 323, "chronyd") in rows
    assert ("udp", "127.0.0.53", 53, "systemd-resolve") in rows


RANGE = {"cat /proc/sys/net/ipv4/ip_local_port_range": Out(0, "32768\t60999\n")}


def test_expected_ports_ignores_loopback_and_flags_strays() -> None:
    assert run("expected_ports_only", {"ss ": Out(0, SS), **RANGE})[0]
    stray = 'tcp LISTEN 0 5 0.0.0.0:6379 0.0.0.0:* users:(("redis-server",pid=5,fd=6))\n'
    passed, detail = run("expected_ports_only", {"ss ": Out(0, SS + stray), **RANGE})
    assert not passed and "tcp/6379 (redis-server)" in detail


def test_expected_ports_ignores_udp_client_sockets_in_the_ephemeral_range() -> None:
    client = "udp UNCONN 0 0 0.0.0.0:56422 0.0.0.0:*\n"
    assert run("expected_ports_only", {"ss ": Out(0, SS + client), **RANGE})[0]
    passed, detail = run("expected_ports_only", {"ss ": Out(0, SS + client),
                                                 "cat /proc": Out(0, "60000 61000\n")})
    assert not passed and "udp/56422" in detail


NFT = {"nftables": [{"metainfo": {}}, {"table": {"family": "inet", "name": "egov"}},
                    {"chain": {"family": "inet", "table": "egov", "name": "input", "hook": "input", "policy": "drop"}},
                    {"chain": {"family": "inet", "table": "egov", "name": "output", "hook": "output",
                               "policy": "accept"}}]}


def test_firewall_default_drop() -> None:
    assert run("firewall_default_drop", {"nft ": Out(0, json.dumps(NFT))}) == (
        True, "input policy drop in inet egov input")
    accept = json.loads(json.dumps(NFT))
    accept["nftables"][2]["chain"]["policy"] = "accept"
    assert run("firewall_default_drop", {"nft ": Out(0, json.dumps(accept))})[0] is False
    assert "not filtered" in run("firewall_default_drop", {"nft ": Out(0, '{"nftables": []}')})[1]
    assert run("firewall_default_drop", {"nft ": Out(1, "", "Operation not permitted")})[0] is False


SSHD_OK = "passwordauthentication no\nkbdinteractiveauthentication no\npermitemptypasswords no\n" \
          "permitrootlogin without-password\npubkeyauthentication yes\nport 22\n"


def test_ssh_hardened() -> None:
    assert run("ssh_hardened", {"sshd -T": Out(0, SSHD_OK)})[0]
    passed, detail = run("ssh_hardened", {"sshd -T": Out(0, SSHD_OK.replace("passwordauthentication no",
                                                                             "passwordauthentication yes")
                                                   .replace("without-password", "yes"))})
    assert not passed and "passwordauthentication yes" in detail and "permitrootlogin yes" in detail


def unit(name: str, load: str = "loaded", active: str = "active", file_state: str = "enabled") -> str:
    return f"Id={name}.service\nLoadState={load}\nActiveState={active}\nUnitFileState={file_state}\n"


def test_services_running_and_enabled() -> None:
    ok = {"systemctl show": Out(0, unit("ssh") + "\n" + unit("nginx", file_state="static"))}
    assert run("services_running", ok)[0]
    bad = {"systemctl show": Out(0, unit("ssh") + "\n" + unit("nginx", active="inactive", file_state="disabled"))}
    passed, detail = run("services_running", bad)
    assert not passed and detail == "nginx is inactive; nginx is disabled at boot"


def test_a_missing_unit_does_not_shift_the_others() -> None:
    node = Node(name="dc-app1", roles=["lb"], services=["haproxy", "ssh"])
    missing = {"systemctl show": Out(0, unit("haproxy", load="not-found", active="inactive", file_state="") + "\n"
                                     + unit("ssh"))}
    passed, detail = run("services_running", missing, node=node)
    assert not passed and detail == "haproxy is not installed"


TRACKING = """Reference ID    : 0A16920A (10.22.146.10)
Stratum         : 11
Last offset     : +0.000001 seconds
Leap status     : Normal
"""


# chronyc(1) "sources": a header, a rule of =, one line per source (mode, state, address, ...)
SOURCES = """MS Name/IP address         Stratum Poll Reach LastRx Last sample
===============================================================================
^? 10.22.146.10                  8   6     0   92m  -5113ns[-5113ns] +/-   30us
^? 10.22.146.11                  9   6     0   92m  +1234ns[+1234ns] +/-  150us
"""


def test_time_synchronised_to_a_dc_server() -> None:
    assert run("time_synchronised", {"chronyc": Out(0, TRACKING)})[0]
    passed, detail = run("time_synchronised", {"chronyc": Out(0, TRACKING.replace("10.22.146.10", "192.0.2.1"))})
    assert not passed and "not a DC time server" in detail
    unsynchronised = Out(0, TRACKING.replace("Normal", "Not synchronised"))
    passed, detail = run("time_synchronised", {"chronyc -n tracking": unsynchronised,
                                               "chronyc -n sources": Out(0, SOURCES)})
    assert not passed and "not synchronised" in detail
    # the sources as chronyc prints them (its header and ==== rule are not sources)
    assert detail.endswith("sources: ^? 10.22.146.10 8 6 0 92m -5113ns[-5113ns]; ^? 10.22.146.11 9 6 0 92m "
                           "+1234ns[+1234ns]"), detail


def test_log_forwarding() -> None:
    conf = '# *.* @@10.22.146.14:514\n*.* action(type="omfwd" target="10.22.146.14" port="514" protocol="tcp")\n'
    assert run("log_forwarding", {"cat ": Out(0, conf)})[0]
    assert not run("log_forwarding", {"cat ": Out(0, conf.splitlines()[0])})[0]  # commented out only
    log_host = Node(name="dc-ops1", roles=["log"], log_targets=["10.22.146.14"])
    assert run("log_forwarding", {"cat ": Out(0, 'module(load="imtcp")\ninput(type="imtcp" port="514")\n')},
               node=log_host)[0]


def test_unattended_upgrades_and_journal() -> None:
    assert run("unattended_upgrades", {"dpkg-query": Out(0, "install ok installed"),
                                       "apt-config": Out(0, 'APT::Periodic::Unattended-Upgrade "1";')})[0]
    assert not run("unattended_upgrades", {"dpkg-query": Out(1, ""), "apt-config": Out(0, "")})[0]
    assert run("journal_persistent", {"systemd-analyze": Out(0, "[Journal]\nStorage=persistent\n"),
                                      "test -d": Out(1)})[0]
    assert not run("journal_persistent", {"systemd-analyze": Out(0, "[Journal]\n#Storage=auto\nStorage=volatile\n"),
                                          "test -d": Out(0)})[0]


def probe_answer(**answer: object) -> Out:
    """The probe's output for a one-spec probe (every check here probes one thing on NODE)."""
    return Out(0, json.dumps([answer]) + "\n")


def test_app_health_direct_and_through_proxy() -> None:
    healthy = probe_answer(status=200, body='{"status": "ok"}', days_left=300.0)
    host = FakeHost(answers={"python3 -c": healthy})
    assert CHECKS["app_health_direct"](host, NODE).passed
    assert CHECKS["app_health_proxy"](host, NODE).passed
    [spec] = json.loads(shlex.split(host.commands[-1])[-1])
    assert spec == {"kind": "http", "connect": "127.0.0.1", "port": 8443, "path": "/portal/healthz", "tls": True,
                    "server_name": "portal.quangninh.gov.vn"}
    assert CHECKS["app_health_proxy"](host, NODE, via="entry").passed
    assert json.loads(shlex.split(host.commands[-1])[-1])[0]["connect"] == "10.22.176.5"
    passed, detail = run("app_health_direct", {"python3 -c": probe_answer(status=503, body='{"status": "fail"}')})
    assert not passed and "app_portal :8103 HTTP 503" in detail
    passed, detail = run("app_health_proxy", {"python3 -c": probe_answer(error="ConnectionRefusedError: refused")})
    assert not passed and "refused" in detail


def test_backends_reachable_names_the_unreachable_one() -> None:
    node = Node(name="dc-app1", roles=["web"], backends={"app_portal": ["10.22.146.10:8103", "10.22.146.11:8103"]})
    answers = [{"status": 200, "body": '{"status": "ok"}'}, {"error": "TimeoutError: timed out"}]
    host = FakeHost(answers={"python3 -c": Out(0, json.dumps(answers))})
    outcome = CHECKS["app_backends_reachable"](host, node)
    assert not outcome.passed
    assert outcome.detail == "backends unhealthy: app_portal 10.22.146.11:8103 TimeoutError: timed out"
    specs = json.loads(shlex.split(host.commands[-1])[-1])
    assert [(s["connect"], s["port"]) for s in specs] == [("10.22.146.10", 8103), ("10.22.146.11", 8103)]


def test_tls_valid_checks_expiry() -> None:
    assert run("tls_valid", {"python3 -c": probe_answer(status=200, days_left=90.0)}, min_days=14)[0]
    passed, detail = run("tls_valid", {"python3 -c": probe_answer(status=200, days_left=3.5)}, min_days=14)
    assert not passed and "expires in 3.5 days" in detail
    passed, detail = run("tls_valid", {"python3 -c": probe_answer(
        error="SSLCertVerificationError: certificate verify failed: unable to get local issuer certificate")})
    assert not passed and "does not verify" in detail


def test_resolver_answers() -> None:
    assert run("resolver_answers", {"python3 -c": probe_answer(rcode=0, answers=1, id_ok=True)})[0]
    passed, detail = run("resolver_answers", {"python3 -c": probe_answer(rcode=3, answers=0, id_ok=True)})
    assert not passed and "rcode 3" in detail


MAIL = Node(name="dc-ops1", roles=["mail"], mail_name="mail.quangninh.gov.vn")


def smtp_answers(submission_ehlo: list[str], tls_ehlo: list[str], days: float = 300.0) -> Out:
    """The probe's answers for port 25 (a compliant one) and 587."""
    smtp = {"ehlo": ["PIPELINING", "STARTTLS"], "tls_ehlo": ["PIPELINING"], "days_left": days}
    return Out(0, json.dumps([smtp, {"ehlo": submission_ehlo, "tls_ehlo": tls_ehlo, "days_left": days}]))


def test_mail_takes_passwords_only_over_tls() -> None:
    host = FakeHost(answers={"python3 -c": smtp_answers(["STARTTLS"], ["AUTH PLAIN LOGIN"])})
    outcome = CHECKS["mail_tls_only"](host, MAIL)
    assert outcome.passed, outcome.detail
    specs = json.loads(shlex.split(host.commands[-1])[-1])
    assert specs == [{"kind": "smtp", "port": port, "server_name": "mail.quangninh.gov.vn"} for port in (25, 587)]
    passed, detail = run("mail_tls_only", {"python3 -c": smtp_answers(["STARTTLS", "AUTH PLAIN"], ["AUTH PLAIN"])},
                         node=MAIL)
    assert not passed and detail == ":587 offers AUTH before TLS"
    passed, detail = run("mail_tls_only", {"python3 -c": smtp_answers([], [], days=3.0)}, node=MAIL)
    assert not passed and detail == (":587 offers no STARTTLS; :587 offers no AUTH after STARTTLS; "
                                     "certificate expires in 3.0 days (< 14)")
    refused = Out(0, json.dumps([{"error": "ConnectionRefusedError: refused"}] * 2))
    assert run("mail_tls_only", {"python3 -c": refused}, node=MAIL) == (
        False, ":25 ConnectionRefusedError: refused; :587 ConnectionRefusedError: refused")


def test_app_config_private() -> None:
    assert run("app_config_private", {"stat ": Out(0, "/etc/egov/portal.ini 640 root\n")})[0]
    passed, detail = run("app_config_private", {"stat ": Out(0, "/etc/egov/portal.ini 644 root\n")})
    assert not passed and detail == "/etc/egov/portal.ini mode 644 is readable by others"
    node = Node(name="dc-app1", roles=["app_portal", "app_specdb"],
                app_configs={"app_portal": "/etc/egov/portal.ini", "app_specdb": "/etc/egov/specdb.ini"})
    passed, detail = run("app_config_private", {"stat ": Out(1, "/etc/egov/portal.ini 640 root\n")}, node=node)
    assert not passed and detail == "/etc/egov/specdb.ini missing"


@pytest.mark.parametrize(("age_hours", "passed"), [(2, True), (30, False)])
def test_backup_recent(age_hours: float, passed: bool) -> None:
    now = 1_800_000_000
    node = Node(name="dc-ops1", roles=["backup"], databases=["portal", "docmgmt"])
    listing = (f"{now - 200000} portal-20261120T0130.dump\n{now - age_hours * 3600} portal-20261127T0130.dump\n"
               f"{now - 3600} docmgmt-20261127T0130.dump\n")
    result = run("backup_recent", {"find ": Out(0, listing), "date ": Out(0, str(now))}, node=node,
                 path="/var/backups/egov", max_age_hours=26)
    assert result[0] is passed and f"portal {age_hours:.1f} h" in result[1]


def test_backup_missing_for_one_database() -> None:
    node = Node(name="dc-ops1", roles=["backup"], databases=["portal", "specdb"])
    passed, detail = run("backup_recent", {"find ": Out(0, "1799999000.0 portal-x.dump\n"),
                                           "date ": Out(0, "1800000000")}, node=node)
    assert not passed and "specdb: none under /var/backups/egov" in detail


def test_file_archives_recent_for_every_host() -> None:
    node = Node(name="dc-ops1", roles=["backup"], hosts=["dc-app1", "qn-ty-node1"])
    listing = "1799990000.0 dc-app1-20261127T013000.tar.gz\n1799999000.0 qn-ty-node1-20261127T013000.tar.gz\n"
    host = FakeHost(answers={"find ": Out(0, listing), "date ": Out(0, "1800000000")})
    outcome = CHECKS["backup_recent"](host, node, path="/var/backups/egov/files", of="hosts")
    assert outcome.passed and outcome.detail == "newest file archives: dc-app1 2.8 h, qn-ty-node1 0.3 h"
    assert host.commands[0] == "find /var/backups/egov/files -type f -name '*.tar.gz' -size +0 -printf '%T@ %f\\n'"
    passed, detail = run("backup_recent", {"find ": Out(0, listing.split("\n")[1]), "date ": Out(0, "1800000000")},
                         node=node, path="/var/backups/egov/files", of="hosts")
    assert not passed and detail == "older than 26 h or missing: dc-app1: none under /var/backups/egov/files"
    assert run("backup_recent", {}, node=node, of="mailboxes") == (
        False, "params: of: 'mailboxes' is not one of databases, hosts")


def test_probe_script_runs_with_the_stdlib() -> None:
    """The probe itself, on this machine: a refused port is an error answer, never a traceback."""
    import socket
    import subprocess
    import sys

    from verify.probe import SCRIPT

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    specs = [{"kind": "http", "port": port, "path": "/"}, {"kind": "nonsense"}]
    out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(specs)], capture_output=True, text=True, check=True)
    refused, nothing = json.loads(out.stdout)
    assert "ConnectionRefusedError" in refused["error"] and nothing == {}


def test_probe_speaks_smtp() -> None:
    """The probe's SMTP client against a server offering no STARTTLS: the EHLO keywords, no TLS step."""
    import socket
    import subprocess
    import sys
    import threading

    from verify.probe import SCRIPT

    heard: list[bytes] = []

    def serve(listener: socket.socket) -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rb") as reader:
            conn.sendall(b"220 mail ESMTP\r\n")
            heard.append(reader.readline())
            conn.sendall(b"250-mail\r\n250-PIPELINING\r\n250-size 1000\r\n250 8BITMIME\r\n")
            heard.append(reader.readline())

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        server = threading.Thread(target=serve, args=(listener,))
        server.start()
        spec = {"kind": "smtp", "port": listener.getsockname()[1], "server_name": "mail"}
        out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps([spec])], capture_output=True, text=True,
                             check=True)
        server.join(5)
    assert json.loads(out.stdout) == [{"ehlo": ["PIPELINING", "SIZE 1000", "8BITMIME"]}]
    assert heard == [b"EHLO egov-verify\r\n", b"QUIT\r\n"]


PORTAL_NODE = Node(name="dc-app1", roles=["lb"], entry=("10.22.176.5", 443),
                   portals=[("snv.quangninh.gov.vn", "Sở Nội vụ"), ("stc.quangninh.gov.vn", "Sở Tài chính")])


def _portal_answers(second_body: str = "<h1>Sở Tài chính</h1>", hsts: str | None = "max-age=31536000",
                    location: str = "https://stc.quangninh.gov.vn/") -> Out:
    """The probe's answers, HTTPS then plain HTTP for each portal, as nginx and HAProxy give them."""
    answers = [{"status": 200, "body": "<html><h1>Sở Nội vụ</h1></html>", "hsts": "max-age=31536000",
                "days_left": 300.0},
               {"status": 301, "location": "https://snv.quangninh.gov.vn/", "body": ""},
               {"status": 200, "body": second_body, "hsts": hsts, "days_left": 300.0},
               {"status": 301, "location": location, "body": ""}]
    return Out(0, json.dumps(answers, ensure_ascii=False) + "\n")


def test_portals_answer_asks_each_portal_by_its_name_at_the_vip() -> None:
    host = FakeHost(answers={"python3 -c": _portal_answers()})
    outcome = CHECKS["portals_answer"](host, PORTAL_NODE)
    assert outcome.passed, outcome.detail
    specs = json.loads(shlex.split(host.commands[-1])[-1])
    assert specs[0] == {"kind": "http", "connect": "10.22.176.5", "port": 443, "path": "/", "tls": True,
                        "server_name": "snv.quangninh.gov.vn"}
    assert specs[3] == {"kind": "http", "connect": "10.22.176.5", "port": 80, "path": "/",
                        "server_name": "stc.quangninh.gov.vn"}


@pytest.mark.parametrize(("answers", "words"), [
    (_portal_answers(second_body="<h1>Sở Nội vụ</h1>"), "stc.quangninh.gov.vn: the page does not name 'Sở Tài chính'"),
    (_portal_answers(hsts=None), "stc.quangninh.gov.vn: no Strict-Transport-Security header"),
    (_portal_answers(location="https://snv.quangninh.gov.vn/"), "is not redirected to https://stc.quangninh.gov.vn/"),
])
def test_portals_answer_names_the_portal_that_fails(answers: Out, words: str) -> None:
    passed, detail = run("portals_answer", {"python3 -c": answers}, node=PORTAL_NODE)
    assert not passed and words in detail and "snv.quangninh.gov.vn:" not in detail


def _directory_node() -> Node:
    return Node(name="dc-db1", roles=["directory"], directories=["10.22.146.12", "10.22.146.13"],
                directory_base="dc=quangninh,dc=gov,dc=vn")


# what ldapsearch -LLL prints for the base entry's contextCSN (OpenLDAP 2.5: one CSN per server ID,
# <time>.<µs>Z#<count>#<server id>#<modifier>), and the line it prints to stderr when a server is down
CSN_1 = "contextCSN: 20261201121500.123456Z#000000#001#000000"
CSN_2 = "contextCSN: 20261201121730.654321Z#000000#002#000000"
DOWN = "ldap_sasl_bind(SIMPLE): Can't contact LDAP server (-1)"


@pytest.mark.parametrize(("listing", "passed", "detail"), [
    (f"== 10.22.146.12\ndn: dc=quangninh,dc=gov,dc=vn\n{CSN_1}\n{CSN_2}\n\n"
     f"== 10.22.146.13\ndn: dc=quangninh,dc=gov,dc=vn\n{CSN_2}\n{CSN_1}\n\n", True, "2 directory servers answer"),
    (f"== 10.22.146.12\ndn: dc=quangninh,dc=gov,dc=vn\n{CSN_1}\n{CSN_2}\n\n"
     f"== 10.22.146.13\ndn: dc=quangninh,dc=gov,dc=vn\n{CSN_1}\n\n", False, "replication not in step"),
    (f"== 10.22.146.12\ndn: dc=quangninh,dc=gov,dc=vn\n{CSN_1}\n\n== 10.22.146.13\n{DOWN}\n", False,
     f"10.22.146.13: {DOWN}"),
])
def test_directory_in_step(listing: str, passed: bool, detail: str) -> None:
    result = run("directory_in_step", {"for a in ": Out(0, listing)}, node=_directory_node())
    assert result[0] is passed and detail in result[1], result
