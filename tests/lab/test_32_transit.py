"""Encrypted in transit, authenticated at every service (issue 13, item 8), on the deployed lab:
syslog over TLS with the sender's certificate checked, PostgreSQL across hosts only over TLS with
verify-full, the Prometheus stack answering HTTPS with a password only, DNS over TLS, NTS, and
packages from the DC mirror over TLS.

Runs after test_30 (every host deployed); changes nothing, so it restores nothing.
"""

from __future__ import annotations

import base64
import functools
import json
import shlex
import ssl
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from inventory.services import DISTRICT_PROXY_PORT, PACKAGE_CACHE_PORT, plain_syslog_sources, router_facing_ip
from tests.support.real_monitoring import wait_for
from verify.checks.server import authdata_sources

pytestmark = pytest.mark.lab

CA = "/usr/local/share/ca-certificates/egov-lab-ca.crt"
# a syslog line (RFC 5424) framed by octet count (RFC 5425 3.3), as a sender's rsyslog writes it
SEND = ("import socket, ssl, sys\n"
        "ctx = ssl.create_default_context(cafile=sys.argv[3])\n"
        "ctx.check_hostname = False\n"
        "if len(sys.argv) > 5: ctx.load_cert_chain(sys.argv[4], sys.argv[5])\n"
        "msg = ('<13>1 - %s egov-test - - - ' % sys.argv[2]).encode() + sys.argv[2].encode()\n"
        "try:\n"
        "    s = ctx.wrap_socket(socket.create_connection((sys.argv[1], 6514), timeout=5))\n"
        "    s.sendall(str(len(msg)).encode() + b' ' + msg); s.recv(1)\n"
        "except (OSError, ssl.SSLError) as exc: print('refused', type(exc).__name__)\n")


def _log_host(lab: Any) -> Any:
    return lab.inventory.hosts_with_role("log")[0]


def _has(lab: Any, node: str, command: str) -> bool:
    return bool(lab.exec(node, command)[0] == 0)


def _logged(lab: Any, marker: str) -> bool:
    rc, out = lab.exec(_log_host(lab).name, f"grep -rl {shlex.quote(marker)} /var/log/egov/ 2>/dev/null")
    return rc == 0 and bool(out.strip())


def test_a_log_line_crosses_to_the_log_host_over_tls_only(lab: Any) -> None:
    log = _log_host(lab)
    sender = next(h for h in lab.inventory.hosts.values() if "log" not in h.roles)
    marker = f"egov-tls-{uuid.uuid4().hex[:12]}"
    started = time.monotonic()
    assert lab.exec(sender.name, f"logger -t egov-test {marker}")[0] == 0
    wait_for(f"{marker} from {sender.name} on {log.name}", lambda: _logged(lab, marker), 30, 1)
    print(f"syslog over TLS {sender.name} -> {log.name}: {time.monotonic() - started:.1f} s")
    _rc, out = lab.exec(log.name, "ss -Htln")
    listening = {line.split()[3].rsplit(":", 1)[1] for line in out.splitlines() if line.strip()}
    assert "6514" in listening and "514" not in listening, out
    _rc, out = lab.exec(sender.name, "ss -Htn state established '( dport = :6514 )'")
    assert str(log.mgmt_ip) in out, f"{sender.name} holds no TLS session to {log.name}: {out}"


def test_the_log_host_takes_no_sender_without_a_platform_certificate(lab: Any) -> None:
    """A client that checks the log host but shows no certificate of its own: refused (x509/name)."""
    log = _log_host(lab)
    sender = next(h for h in lab.inventory.hosts.values() if "log" not in h.roles)
    anonymous, signed = f"egov-anon-{uuid.uuid4().hex[:12]}", f"egov-signed-{uuid.uuid4().hex[:12]}"
    for marker, cert in ((anonymous, ""), (signed, " /etc/ssl/egov/host.crt /etc/ssl/egov/host.key")):
        lab.exec(sender.name, f"python3 -c {shlex.quote(SEND)} {log.mgmt_ip} {marker} {CA}{cert}")
    # the same script with the host's certificate gets through: the refusal is the certificate's
    wait_for(f"{signed} on {log.name}", lambda: _logged(lab, signed), 30, 1)
    assert not _logged(lab, anonymous), "a sender without a certificate was logged"


def test_postgres_across_hosts_is_tls_with_verify_full(lab: Any) -> None:
    inv = lab.inventory
    primary, replica = (h for h in inv.hosts_with_role("db"))
    # the replica streams over TLS, with the primary's certificate and name verified
    rc, out = lab.exec(replica.name, "runuser -u postgres -- psql -XAtc 'select conninfo from pg_stat_wal_receiver'")
    assert rc == 0 and "sslmode=verify-full" in out, out
    rc, out = lab.exec(primary.name, "runuser -u postgres -- psql -XAtc 'select s.ssl from pg_stat_replication r "
                                     "join pg_stat_ssl s using (pid)'")
    assert rc == 0 and out.split() == ["t"], out
    from inventory.applications import APPS

    backups = inv.hosts_with_role("backup")
    databases = [app.name for role, app in APPS.items() if inv.hosts_with_role(role)]
    if not backups or not databases:  # a cut-down lab: the replication check above is all there is
        return
    # the backup host's reader (its .pgpass has the password): verify-full works, a plain session is refused
    dsn = f"host={primary.mgmt_ip} dbname={databases[0]} user=egov_backup"
    sql = shlex.quote("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
    rc, out = lab.exec(backups[0].name, f"psql {shlex.quote(dsn + f' sslmode=verify-full sslrootcert={CA}')} "
                                        f"-XAtc {sql}")
    assert rc == 0 and out.strip() == "t", out
    rc, out = lab.exec(backups[0].name, f"psql {shlex.quote(dsn + ' sslmode=disable')} -XAtc {sql} 2>&1")
    assert rc != 0 and "no encryption" in out, out


def _status(url: str, ca: str, auth: tuple[str, str] | None = None) -> int | str:
    headers = {"Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode()} if auth else {}
    context = ssl.create_default_context(cafile=ca) if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5, context=context) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError) as exc:
        return f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


def test_prometheus_alertmanager_and_exporters_want_tls_and_a_password(lab: Any) -> None:
    from deploys.context import DeployContext
    from deploys.pki import control_ca_file
    from egov.secrets import Secrets
    from monitoring.targets import build_plan
    from monitoring.webconfig import ONCALL_USER, SCRAPE_USER, SECRETS

    inv = lab.inventory
    ca = control_ca_file(inv, inv.hosts_with_role("monitoring")[0].vars) or ""
    context = DeployContext.of(inv, Secrets())
    top = build_plan(inv).top[0]
    s = top.settings
    endpoints = [(top.address, port) for port in (s.prometheus_port, s.alertmanager_port, s.node_exporter_port,
                                                  s.blackbox_port, s.egov_exporter_port)]
    endpoints += [(str(h.mgmt_ip), s.postgres_exporter_port) for h in inv.hosts_with_role("db")]
    seen = {}
    for address, port in endpoints:
        url = f"https://{address}:{port}/metrics"
        seen[port] = (_status(url.replace("https://", "http://"), ca), _status(url, ca),
                      _status(url, ca, (SCRAPE_USER, context.secret(SECRETS[SCRAPE_USER]))),
                      _status(url, ca, (ONCALL_USER, context.secret(SECRETS[ONCALL_USER]))))
    for port, (plain, anonymous, scraper, oncall) in seen.items():
        assert plain != 200 and anonymous == 401 and scraper == 200, (port, seen[port])
        assert oncall == (200 if port != s.postgres_exporter_port else 401), (port, seen[port])
    # and Prometheus scrapes every one of them over TLS: every target up
    from monitoring import api

    http = api.client(ca, ONCALL_USER, context.secret(SECRETS[ONCALL_USER]))
    jobs = {"prometheus", "node", "postgres", "egov", "alertmanager", "blackbox"}
    down: list[str] = []

    def all_up() -> bool:
        # the active targets, not the `up` series: a series of a target from before a restart (the
        # package's own config scraping localhost:9100) lingers for Prometheus' 5-minute lookback
        answer = http("GET", top.url() + "/api/v1/targets?state=active", None)
        targets = [t for t in answer["data"]["activeTargets"] if t["labels"].get("job") in jobs]
        down[:] = [f"{t['labels']['job']} {t['scrapeUrl']}: {t['health']} {t.get('lastError', '')}"
                   for t in targets if t["health"] != "up"]
        return bool(targets) and not down

    try:
        wait_for("every exporter, Prometheus and Alertmanager scraped over TLS", all_up, 120, 3)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; not up: {down}") from None


def test_the_routers_syslog_reaches_their_own_files_over_tls_and_plain_udp_is_not_taken(lab: Any) -> None:
    """Every lab router is on TLS (network__syslog_transport's default, docs/network.md "Logging"):
    an FRR daemon's line goes over TLS (6514, the router's certificate of the lab CA, the log host's
    checked by name) into /var/log/egov/network/<router>.log, for the log host's own site's router
    and for one behind the WAN (its session leaves from its WAN port: named by the inventory's
    addresses all the same). Nothing takes plain UDP 514: no input, no firewall opening, a host's
    datagram is dropped."""
    log = _log_host(lab)
    inv = lab.inventory
    assert plain_syslog_sources(inv) == []
    local = next(r for r in inv.routers.values() if r.site == log.site)
    remote = next((r for r in inv.routers.values() if r.site != log.site), None)
    sender = next(h for h in inv.hosts.values() if "log" not in h.roles)
    target = str(router_facing_ip(log))
    from_host = f"egov-udp-host-{uuid.uuid4().hex[:12]}"
    started = time.monotonic()
    assert lab.exec(sender.name, f"logger -d -n {target} -P 514 -t egov-test {from_host}")[0] == 0
    markers = {}
    for router in (local, *([remote] if remote else [])):
        # on the router's own syslog path (FRR's rsyslog drop-in stops its daemons' lines: the
        # forwarding must come first)
        markers[router.name] = f"egov-router-{uuid.uuid4().hex[:12]}"
        assert lab.exec(router.name, f"logger -t ospfd {markers[router.name]}")[0] == 0
    for name, marker in markers.items():
        own_file = f"/var/log/egov/network/{name}.log"
        wait_for(f"{marker} in {own_file} on {log.name}",
                 functools.partial(_has, lab, log.name, f"grep -q {marker} {own_file}"), 60, 1)
        _rc, out = lab.exec(log.name, f"grep -rl {marker} /var/log/egov/")
        assert out.split() == [own_file], f"{marker} mixed into the hosts' files: {out}"
        # the session the line came over: TCP to 6514, and the router's rsyslog loads gtls for it
        rc, sessions = lab.exec(name, f"ss -Htn state established dst {target}")
        assert rc == 0 and f"{target}:6514" in sessions, sessions
    print(f"router syslog over TLS {', '.join(markers)} -> {log.name}: {time.monotonic() - started:.1f} s")
    assert not _logged(lab, from_host), f"{sender.name} got plain UDP 514 into {log.name}'s logs"
    _rc, ruleset = lab.exec(log.name, "nft list ruleset")
    assert "udp dport 514" not in ruleset, ruleset
    _rc, listening = lab.exec(log.name, "ss -Hulnp")
    assert ":514 " not in listening, listening


def _tls_queries(lab: Any) -> int:
    """DNS-over-TLS questions the DC resolvers have answered since they started (unbound's own count)."""
    total = 0
    for dns in lab.inventory.hosts_with_role("dns"):
        rc, out = lab.exec(dns.name, "unbound-control stats_noreset")
        assert rc == 0, f"{dns.name}: unbound-control: {out}"
        total += int(next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("num.query.tls=")))
    return total


def test_a_local_node_asks_the_dc_resolvers_over_tls(lab: Any) -> None:
    """A name the node's resolver has never seen goes to the DC over TLS: the DC's TLS count grows by
    it, and the DC's answer (NXDOMAIN from its static zone) comes back to the node's client."""
    from verify.probe import SCRIPT

    inv = lab.inventory
    node = inv.hosts_with_role("local_node")[0].name
    before = _tls_queries(lab)
    name = f"egov-dot-{uuid.uuid4().hex[:12]}.{inv.province.domain}"
    rc, out = lab.exec(node, ["python3", "-c", SCRIPT, json.dumps([{"kind": "dns", "server": "127.0.0.1",
                                                                      "name": name}])])
    answer = json.loads(out.splitlines()[-1])[0] if rc == 0 else {"error": out}
    assert answer.get("rcode") == 3 and answer.get("id_ok"), answer  # the DC's zone says: no such name
    assert _tls_queries(lab) > before, "the question reached no DC resolver over TLS"


def test_every_host_keeps_time_over_nts_from_the_dc(lab: Any) -> None:
    """Each host other than the time servers holds NTS cookies from each DC time server (its keys
    came from the server's NTS-KE, its certificate checked for the address), and the time servers
    count the authenticated packets: a local node across the WAN as much as a DC host."""
    inv = lab.inventory
    servers = {str(h.mgmt_ip) for h in inv.hosts_with_role("ntp")}
    for h in inv.hosts.values():
        if "ntp" in h.roles:
            continue
        rc, out = lab.exec(h.name, "chronyc -n authdata")
        assert rc == 0, f"{h.name}: {out}"
        rows = authdata_sources(out)
        assert set(rows) >= servers, f"{h.name}: {out}"
        assert all(rows[s][1] == "NTS" and rows[s][8] != "0" for s in servers), f"{h.name}: {out}"
    for name in sorted(h.name for h in inv.hosts_with_role("ntp")):
        rc, out = lab.exec(name, "chronyc -n serverstats")
        assert rc == 0, f"{name}: {out}"
        counted = int(next(line.split(":")[1] for line in out.splitlines() if line.startswith("Authenticated NTP")))
        assert counted > 0, f"{name}: no authenticated NTP packet served: {out}"


MIRROR_LOG = "/var/log/nginx/egov-mirror.access.log"


def _mirror_log(lab: Any, mirror: str) -> list[str]:
    rc, out = lab.exec(mirror, f"cat {MIRROR_LOG}")
    assert rc == 0, out
    return out.splitlines()


def test_packages_cross_to_every_host_from_the_mirror_over_tls_only(lab: Any) -> None:
    """A DC host's apt update and a district node's squid (asked past its cache) both reach the
    mirror's TLS port, which logs their requests; apt-cacher-ng's own port answers neither."""
    inv = lab.inventory
    mirror = inv.hosts_with_role("mirror")[0].name
    client = next(h for h in inv.hosts.values() if not {"mirror", "local_node"} & set(h.roles))
    node = inv.hosts_with_role("local_node")[0]
    before = len(_mirror_log(lab, mirror))
    rc, out = lab.exec(client.name, "apt-get -q update", timeout=300)
    assert rc == 0 and "Err:" not in out, out
    fetch = ("python3 -c \"import urllib.request as u; o = u.build_opener(u.ProxyHandler("
             f"{{'http': 'http://127.0.0.1:{DISTRICT_PROXY_PORT}'}})); print(o.open(u.Request("
             "'http://deb.debian.org/debian/dists/bookworm/Release', headers={'Cache-Control': 'no-cache'}), "
             "timeout=60).status)\"")
    rc, out = lab.exec(node.name, fetch)
    assert rc == 0 and out.strip().endswith("200"), out
    new = _mirror_log(lab, mirror)[before:]
    node_addresses = lab.exec(node.name, "hostname -I")[1].split()
    assert any(line.startswith(f"{client.mgmt_ip} ") for line in new), new
    assert any(line.split()[0] in node_addresses and "dists/bookworm/Release" in line for line in new), \
        (node_addresses, new)
    mirror_ip = inv.hosts[mirror].mgmt_ip
    plain = (f"python3 -c \"import socket; socket.create_connection(('{mirror_ip}', {PACKAGE_CACHE_PORT}), "
             "timeout=5); print('open')\"")
    for source in (client.name, node.name):
        rc, out = lab.exec(source, plain)
        assert rc != 0 and "open" not in out, f"{source} reaches apt-cacher-ng in clear: {out}"
