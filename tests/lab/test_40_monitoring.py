"""Monitoring for real: two Prometheus servers federating on this machine's loopback, then the
lab's monitoring host deployed from the inventory, every host and router a target and up, a
stopped host reported down by `egov monitor status` and its HostDown alert firing, its page in
the NOC's mailbox on the lab's mail host (read over IMAPS) and in the alert receiver's record,
no notification failed; a stopped blackbox_exporter alerts; a stopped Alertmanager is noticed by
the dead man's switch, which e-mails the NOC itself.

Runs after test_20 (WAN configured) and test_30 (hosts deployed).
"""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from inventory import load_inventory
from monitoring.config import generate, write_tree
from tests.support.imaps import Imaps
from tests.support.loopback import free_port
from tests.support.real_monitoring import get_json as plain_get_json
from tests.support.real_monitoring import ready, wait_for

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]
FEDERATED = REPO / "tests" / "fixtures" / "monitoring" / "federated.yml"


# How the deployed lab's Prometheus and Alertmanager are asked: HTTPS, the lab CA, user oncall
# (set by the `deployed` fixture); the local servers of `two_servers` speak plain HTTP.
LAB_CLIENT: dict[str, Any] = {}


def lab_read(url: str) -> bytes:
    import base64

    user, password = LAB_CLIENT["auth"]
    req = urllib.request.Request(url, headers={
        "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()})
    with urllib.request.urlopen(req, timeout=5, context=ssl.create_default_context(cafile=LAB_CLIENT["ca"])) as resp:
        return bytes(resp.read())


def get_json(url: str) -> Any:
    return json.loads(lab_read(url)) if url.startswith("https://") else plain_get_json(url)


def query(base: str, expr: str) -> list[dict[str, Any]]:
    return list(get_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))["data"]["result"])


def _local(files: dict[str, str], directory: Path, rewrite: Callable[[str, list[dict[str, Any]]], list[dict[str, Any]]],
           am_port: int, self_port: int) -> None:
    """Write a generated server tree with every network address moved to 127.0.0.1, so this
    test sends nothing to the inventory's (production) addresses."""
    out = dict(files)
    for rel in [r for r in files if r.startswith("file_sd/")]:
        out[rel] = json.dumps(rewrite(rel[len("file_sd/"):-len(".json")], json.loads(files[rel])))
    conf = yaml.safe_load(files["prometheus.yml"])
    conf["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{am_port}"]
    conf["scrape_configs"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{self_port}"]  # job prometheus
    # these local servers speak plain HTTP: the transport (HTTPS, basic auth) is the deployed lab's test
    for client in [*conf["scrape_configs"], *conf["alerting"]["alertmanagers"]]:
        for key in ("scheme", "tls_config", "basic_auth"):
            client.pop(key, None)
    out["prometheus.yml"] = yaml.safe_dump(conf, sort_keys=False)
    if "alertmanager.yml" in files:
        am = yaml.safe_load(files["alertmanager.yml"])
        am["global"]["smtp_smarthost"] = f"127.0.0.1:{free_port()}"  # nothing listens: mails fail locally
        for receiver in am["receivers"]:
            for hook in receiver.get("webhook_configs", []):
                hook["url"] = f"http://127.0.0.1:{free_port()}/"
        out["alertmanager.yml"] = yaml.safe_dump(am, sort_keys=False)
    write_tree(out, directory)


class Proc:
    """A server process run as ``nobody``: each file_sd job takes an inotify instance, and on a
    machine whose containers run systemd as root, root's instances (128 by default) run out."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log
        self.p = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv],
                                  stdout=log.open("wb"), stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()


@pytest.fixture(scope="module")
def nobody_dir() -> Iterator[Path]:
    """A scratch directory the ``nobody`` user can write to."""
    path = Path(tempfile.mkdtemp(prefix="egov-monitoring-"))
    shutil.chown(path, "nobody", "nogroup")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def two_servers(nobody_dir: Path) -> Iterator[dict[str, str]]:
    """The federated fixture inventory's province and district servers (lab intervals) plus the
    province Alertmanager, all on 127.0.0.1."""
    tmp_path = nobody_dir
    for tool in ("prometheus", "prometheus-alertmanager"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} missing: apt-get install prometheus prometheus-alertmanager")
    lab_copy = tmp_path / "federated-lab.yml"
    spec = yaml.safe_load(FEDERATED.read_text(encoding="utf-8"))
    lab_defaults = yaml.safe_load((REPO / "inventory" / "lab.yml").read_text(encoding="utf-8"))["defaults"]
    spec["environment"] = "lab"
    spec["defaults"].update({k: v for k, v in lab_defaults.items() if k.startswith("monitoring__")})  # lab intervals
    lab_copy.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    gen = generate(load_inventory(lab_copy))
    ports = {"province": free_port(), "district": free_port(), "am": free_port(), "am_cluster": free_port()}
    dead = free_port()  # a closed port stands for a host that is down

    def district_sd(job: str, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if job != "node":
            return []
        # the first host of the district answers (the district Prometheus itself), the rest are down
        return [{**g, "targets": [f"127.0.0.1:{ports['district'] if i == 0 else dead}"]} for i, g in enumerate(groups)]

    def province_sd(job: str, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if job == "federate":
            return [{**g, "targets": [f"127.0.0.1:{ports['district']}"]} for g in groups]
        if job == "node":
            return [{**g, "targets": [f"127.0.0.1:{ports['province']}"]} for g in groups]
        return []

    servers = (("qn-ty-mon1", district_sd, ports["district"]), ("dc-ops1", province_sd, ports["province"]))
    for name, sd, port in servers:
        _local(gen[name].files, tmp_path / name, sd, ports["am"], port)
    subprocess.run(["chown", "-R", "nobody:nogroup", str(tmp_path)], check=True)
    procs = []
    try:
        for name, _, port in servers:
            d = tmp_path / name
            procs.append(Proc(["prometheus", f"--config.file={d / 'prometheus.yml'}",
                               f"--storage.tsdb.path={d / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                              tmp_path / f"{name}.log"))
        procs.append(Proc(["prometheus-alertmanager", f"--config.file={tmp_path / 'dc-ops1' / 'alertmanager.yml'}",
                           f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{ports['am']}",
                           f"--cluster.listen-address=127.0.0.1:{ports['am_cluster']}"], tmp_path / "am.log"))
        urls = {"province": f"http://127.0.0.1:{ports['province']}", "district": f"http://127.0.0.1:{ports['district']}",
                "alertmanager": f"http://127.0.0.1:{ports['am']}"}
        for url in urls.values():
            wait_for(f"{url} ready", lambda: ready(url), 30, 0.5)  # noqa: B023 - called within this iteration
        yield urls
    finally:
        for p in procs:
            p.stop()


def test_province_server_sees_district_aggregates_through_federation(two_servers: dict[str, str]) -> None:
    province, district = two_servers["province"], two_servers["district"]
    # the district records its aggregates from its own scrapes
    def aggregate(server: str, name: str, want: float) -> Callable[[], list[dict[str, Any]]]:
        # series appear as targets get their first scrape: wait until the value is the final one
        expr = f'{name}{{site="tien-yen", job="node"}}'
        return lambda: [r for r in query(server, expr) if float(r["value"][1]) == want]

    wait_for("district aggregates", aggregate(district, "site:targets:count", 2), 40)
    # the province sees the district's aggregates, labelled with the district server that recorded them ...
    rows = wait_for("federated aggregate", aggregate(province, "site:targets:count", 2), 60)  # qn-ty-node1, qn-ty-mon1
    assert rows[0]["metric"]["monitor"] == "qn-ty-mon1"
    # ... and, now that it has scraped at least once, scrapes none of the district's hosts itself
    # (asked before that first scrape, the answer is empty: a loaded machine showed it)
    assert [r["metric"]["job"] for r in query(province, 'up{site="tien-yen"}')] == ["federate"]
    wait_for("federated up count", aggregate(province, "site:targets_up:sum", 1), 30)  # one stands for a dead host
    # only aggregates cross, and whether the district can deliver its alerts (it cannot say so itself)
    raw = query(province, '{monitor="qn-ty-mon1", __name__!~"site:.+"}')
    assert {r["metric"]["__name__"] for r in raw} == {"prometheus_notifications_alertmanagers_discovered"}, raw
    assert {r["metric"]["instance"] for r in raw} == {"qn-ty-mon1"}


def test_every_generated_rule_evaluates_on_real_servers(two_servers: dict[str, str]) -> None:
    """Both real Prometheus servers load the generated rules and evaluate every one without error;
    the Watchdog fires on each and reaches the Alertmanager."""
    def rules(server: str) -> list[dict[str, Any]]:
        return [{**r, "group": g["name"]} for g in get_json(f"{server}/api/v1/rules")["data"]["groups"]
                for r in g["rules"]]

    for server in (two_servers["province"], two_servers["district"]):
        assert {"egov-aggregates", "egov-alerts", "egov-node", "egov-self", "egov-expected"} <= {
            r["group"] for r in rules(server)}
        # a never-evaluated rule's lastEvaluation is year 0001
        wait_for("a round of evaluations", partial(lambda s: all(
            r["lastEvaluation"].startswith("2") for r in rules(s)), server), 30, 1)
        assert [(r["group"], r["name"], r["lastError"]) for r in rules(server) if r["health"] != "ok"] == []
    # its first send, at the first evaluation, can precede the Alertmanager's discovery (counted in
    # prometheus_notifications_dropped_total); Prometheus resends firing alerts every minute
    wait_for("the Watchdog at the Alertmanager", lambda: [
        a for a in get_json(f"{two_servers['alertmanager']}/api/v2/alerts") if a["labels"]["alertname"] == "Watchdog"],
        120)


def egov(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).with_name("egov")), *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO, check=False)


def test_status_on_real_servers_shows_the_dead_district_host_and_exits_2(two_servers: dict[str, str]) -> None:
    """The district's HostDown reaches the province Alertmanager; the province's view shows it."""
    am = two_servers["alertmanager"]
    wait_for("HostDown at the Alertmanager", lambda: [
        a for a in get_json(f"{am}/api/v2/alerts") if a["labels"]["alertname"] == "HostDown"], 90)
    proc = egov("monitor", "status", "-i", str(FEDERATED), "--prometheus", two_servers["province"],
                "--alertmanager", am, "--json")
    assert proc.returncode == 2, proc.stderr  # CRITICAL, as a Nagios check
    report = json.loads(proc.stdout)
    assert report["critical"] is True
    sites = {s["site"]: s for s in report["sites"]}
    ty = sites["tien-yen"]
    assert ty["targets_down"] == 1 and ty["alerts"]["critical"] >= 1
    assert [a for a in report["alerts"] if a["alertname"] == "HostDown" and a["site"] == "tien-yen"]
    assert sites["dc"]["targets_down"] == 0
    # --site narrows the view; the table form names the site and says why it exits 1
    proc = egov("monitor", "status", "-i", str(FEDERATED), "--prometheus", two_servers["province"],
                "--alertmanager", am, "--site", "dc")
    # the critical alert is tien-yen's, not dc's; dc's routers are not probed in this stand-in (no
    # blackbox), and a probe the inventory expects but nobody runs is a warning (RouterUnreachable)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "dc" in proc.stdout and "tien-yen" not in proc.stdout and "critical" not in proc.stdout.lower()


def test_a_dead_district_pages_once(two_servers: dict[str, str]) -> None:
    """The generated inhibit rules and grouping on a real Alertmanager: the district unreachable
    silences its hosts and communes; what is left is one group for the zone."""
    am = two_servers["alertmanager"]
    zone = {"zone": "tien-yen"}
    alerts = [{"alertname": "SiteUnreachable", "severity": "critical", "site": "tien-yen", "level": "district", **zone}]
    alerts += [{"alertname": "SiteUnreachable", "severity": "critical", "site": c, "level": "commune", **zone}
               for c in ("ty-tien-yen", "ty-dong-ngu")]
    alerts += [{"alertname": "HostDown", "severity": "critical", "site": "tien-yen", "level": "district",
                "instance": "qn-ty-node1", **zone},
               {"alertname": "RouterUnreachable", "severity": "critical", "site": "ty-dong-ngu", "level": "commune",
                "instance": "qn-ty-dong-ngu-r1", **zone},
               {"alertname": "WanLinkDown", "severity": "warning", "site": "ty-tien-yen", "level": "commune",
                "instance": "qn-ty-tien-yen-r1:wan0--qn-ty-r1:wan16", **zone}]
    body = json.dumps([{"labels": a, "annotations": {"summary": "test"}} for a in alerts]).encode()
    req = urllib.request.Request(f"{am}/api/v2/alerts", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200

    def shown() -> list[dict[str, Any]]:
        active = get_json(f"{am}/api/v2/alerts?inhibited=false&silenced=false")
        return [a for a in active if a["labels"].get("zone") == "tien-yen"]

    left = wait_for("inhibition", lambda: [a["labels"]["alertname"] for a in shown()] == ["SiteUnreachable"]
                    and shown(), 30, 1)
    assert left[0]["labels"]["site"] == "tien-yen"
    inhibited = get_json(f"{am}/api/v2/alerts?inhibited=true&active=false&silenced=false")
    assert {a["labels"]["alertname"] for a in inhibited if a["labels"].get("zone") == "tien-yen"} >= {
        "HostDown", "RouterUnreachable", "WanLinkDown", "SiteUnreachable"}  # communes' SiteUnreachable too
    # grouped by alertname and site: what is left to notify is one group per receiver, the district's
    groups = get_json(f"{am}/api/v2/alerts/groups?inhibited=false&silenced=false")
    per_receiver = sorted((g["receiver"]["name"], g["labels"]["alertname"], g["labels"]["site"]) for g in groups
                          if g["labels"].get("site") in ("tien-yen", "ty-tien-yen", "ty-dong-ngu"))
    assert per_receiver == [("it-tien-yen", "SiteUnreachable", "tien-yen"), ("noc", "SiteUnreachable", "tien-yen")]

# --- the lab's monitoring host -------------------------------------------------------------------

def _victim(inv: Any) -> str:
    """A host that runs neither monitoring nor mail (stopping it must not cut paging), below the
    province where there is one."""
    spare = [h for h in inv.hosts.values() if not {"monitoring", "mail"} & set(h.roles)]
    return next((h.name for h in spare if inv.sites[h.site].depth > 0), spare[0].name)


def _status(inventory_path: Path) -> tuple[int, dict[str, Any]]:
    proc = egov("monitor", "status", "-i", str(inventory_path), "--json")
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _down_names(report: dict[str, Any]) -> set[str]:
    return {entry.split(" ")[0] for s in report["sites"] for entry in s["down"]}


@pytest.fixture(scope="module")
def deployed(lab: Any) -> Any:
    """The monitoring host deployed (twice: the second run must change nothing)."""
    from deploys.runner import run_deploy

    first = run_deploy(lab.inventory, ["monitoring"])
    assert not first.failed, {n: r.error for n, r in first.items() if r.failed}
    second = run_deploy(lab.inventory, ["monitoring"])
    assert not second.failed, {n: r.error for n, r in second.items() if r.failed}
    assert {n: r.data.get("changes") for n, r in second.items()} == {n: 0 for n in second}
    from deploys.context import DeployContext
    from deploys.pki import control_ca_file
    from egov.secrets import Secrets
    from monitoring.webconfig import ONCALL_USER, SECRETS

    inv = lab.inventory
    LAB_CLIENT.update(ca=control_ca_file(inv, inv.hosts_with_role("monitoring")[0].vars),
                      auth=(ONCALL_USER, DeployContext.of(inv, Secrets()).secret(SECRETS[ONCALL_USER])))
    return lab


def test_every_lab_host_and_router_is_a_target_and_up(deployed: Any) -> None:
    inv = deployed.inventory
    from monitoring.targets import build_plan

    prometheus = build_plan(inv).top[0].url()

    def all_up() -> bool:
        hosts = {r["metric"]["instance"] for r in query(prometheus, 'up{job="node"} == 1')}
        routers = {r["metric"]["instance"] for r in query(prometheus, 'probe_success{job="icmp_router"} == 1')}
        return hosts == set(inv.hosts) and routers == set(inv.routers)

    wait_for("every host and router up in Prometheus", all_up, 180, 5)
    db = {r["metric"]["instance"] for r in query(prometheus, 'up{job="postgres"} == 1')}
    assert db == {h.name for h in inv.hosts_with_role("db")}
    egov_targets = {r["metric"]["instance"] for r in query(prometheus, 'up{job="egov"} == 1')}
    assert egov_targets == {h.name for h in inv.hosts.values() if {"monitoring", "backup"} & set(h.roles)}
    _, report = _status(inv.path)
    assert not _down_names(report) & (set(inv.hosts) | set(inv.routers)), report


def test_the_backup_jobs_last_good_backup_reaches_prometheus(deployed: Any) -> None:
    """The backup job writes the status file the egov exporter reads: one recent series per database."""
    from inventory.applications import APPS
    from monitoring.targets import build_plan

    inv = deployed.inventory
    prometheus = build_plan(inv).top[0].url()
    databases = {app.name for role, app in APPS.items() if inv.hosts_with_role(role)}

    def reported() -> dict[str, float]:
        return {r["metric"]["database"]: float(r["value"][1])
                for r in query(prometheus, "egov_backup_last_success_timestamp_seconds")}

    wait_for("every database's last good backup in Prometheus", lambda: set(reported()) == databases, 120, 5)
    assert all(time.time() - stamp < 26 * 3600 for stamp in reported().values()), reported()


def test_a_stopped_host_is_reported_down_and_pages(deployed: Any) -> None:
    inv = deployed.inventory
    victim = _victim(inv)
    site = inv.hosts[victim].site
    deployed.stop_node(victim)
    try:
        def reported() -> dict[str, Any] | None:
            code, report = _status(inv.path)
            sites = {s["site"]: s for s in report["sites"]}
            paged = [a for a in report["alerts"] if a["alertname"] == "HostDown" and a["instance"] == victim]
            if code == 2 and paged and any(d.startswith(victim) for d in sites[site]["down"]):
                return report
            return None

        report = wait_for(f"{victim} down and HostDown firing", reported, 180, 5)
        alert = next(a for a in report["alerts"] if a["instance"] == victim)
        assert alert["severity"] == "critical" and alert["site"] == site
        table = egov("monitor", "status", "-i", str(inv.path), "--site", site)
        assert table.returncode == 2 and victim in table.stdout
    finally:
        deployed.start_node(victim)
    wait_for(f"{victim} up again", lambda: victim not in _down_names(_status(inv.path)[1]), 180, 5)


# --- paging that arrives -------------------------------------------------------------------------

def _noc_mail(lab: Any) -> list[str]:
    """Every message in the NOC's mailbox, decoded to text (subject and body), read over IMAPS
    as the NOC reads it: the mailbox of the inventory's NOC address, its password from the lab's secrets."""
    from deploys.context import LAB_SECRETS_FILE
    from inventory.services import mail_name
    from monitoring.targets import build_plan

    inv = lab.inventory
    name = build_plan(inv).settings.noc_email.partition("@")[0]
    password = yaml.safe_load((lab.state_dir / LAB_SECRETS_FILE).read_text())[f"mailbox_{name}_password"]
    context = ssl.create_default_context(cafile=str(lab.state_dir / "pki" / "ca.crt"))
    mail = inv.hosts_with_role("mail")[0]
    with Imaps(str(mail.mgmt_ip), mail_name(inv), context) as imap:
        imap.login(name, password)
        imap.select("INBOX", readonly=True)
        _, ids = imap.search(None, "ALL")
        texts = []
        for num in ids[0].split():
            _, data = imap.fetch(num, "(RFC822)")
            raw = data[0]
            assert isinstance(raw, tuple), data
            message = email.message_from_bytes(raw[1], policy=email.policy.default)
            parts = [p.get_content() for p in message.walk() if p.get_content_maintype() == "text"]
            texts.append(f"{message['Subject']}\n" + "\n".join(parts))
        return texts


def _monitoring_host(inv: Any) -> Any:
    from monitoring.targets import build_plan

    return build_plan(inv).top[0]


def _recorded(lab: Any) -> list[dict[str, Any]]:
    """The alert receiver's record on the monitoring host (one JSON line per notification)."""
    from monitoring.delivery import RECEIVER_STATE_DIR

    rc, out = lab.exec(_monitoring_host(lab.inventory).name, f"cat {RECEIVER_STATE_DIR}/notifications.jsonl")
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")] if rc == 0 else []


def _failed_notifications(inv: Any) -> dict[str, float]:
    """Alertmanager's own count of notifications that failed, per integration (non-zero only)."""
    lines = lab_read(f"{_monitoring_host(inv).alertmanager_url()}/metrics").decode().splitlines()
    return {line.split("{")[1].split("}")[0]: float(line.split()[-1]) for line in lines
            if line.startswith("alertmanager_notifications_failed_total{") and float(line.split()[-1])}


def _host_down_settled(lab: Any, victim: str) -> tuple[list[str]] | None:
    """The NOC's mail, once the last HostDown page of ``victim`` (if any) is a RESOLVED one: until the
    Alertmanager has sent that, it takes a new firing of the same alert for the page it already sent
    (the earlier test stopped the same host) and sends nothing new."""
    mail = _noc_mail(lab)
    pages = [m for m in mail if "HostDown" in m.partition("\n")[0] and victim in m]
    return (mail,) if not pages or "RESOLVED" in pages[-1].partition("\n")[0] else None


def test_a_dead_host_pages_the_noc_mailbox_and_the_webhook(deployed: Any) -> None:
    inv = deployed.inventory
    victim = _victim(inv)
    before = len(wait_for(f"the NOC told that {victim}'s last HostDown resolved",
                          lambda: _host_down_settled(deployed, victim), 180, 5)[0])
    stopped = time.monotonic()
    deployed.stop_node(victim)
    try:
        def paged() -> list[str]:
            # HostDown, or RedundantHostDown where a peer keeps the host's services up
            return [m for m in _noc_mail(deployed)[before:] if "HostDown" in m and victim in m and "FIRING" in m]

        page = wait_for(f"the page of {victim} in the NOC mailbox", paged, 240, 3)
        to_mail = time.monotonic() - stopped
        print(f"{victim} stopped -> page in the NOC mailbox: {to_mail:.1f} s")
        # the same page, as the webhook got it
        hooks = [a["labels"] for r in _recorded(deployed) if r["receiver"] == "noc" for a in r["payload"]["alerts"]
                 if a["status"] == "firing" and a["labels"].get("instance") == victim]
        assert hooks, "the alert receiver recorded no page for the NOC"
        assert any(labels["alertname"].endswith("HostDown") and labels["alertname"] in page[0]
                   for labels in hooks), hooks
    finally:
        deployed.start_node(victim)
    wait_for(f"{victim} up again", lambda: victim not in _down_names(_status(inv.path)[1]), 180, 5)
    assert _failed_notifications(inv) == {}


def _watchdog(inv: Any) -> tuple[int, dict[str, Any]]:
    server = _monitoring_host(inv)
    try:
        with urllib.request.urlopen(f"http://{server.address}:{server.settings.alert_receiver_port}/watchdog",
                                    timeout=5) as resp:
            return int(resp.status), json.load(resp)
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.load(exc)


def test_a_stopped_blackbox_exporter_alerts(deployed: Any) -> None:
    inv = deployed.inventory
    server = _monitoring_host(inv)
    deployed.exec(server.name, "systemctl stop prometheus-blackbox-exporter")
    try:
        wait_for("an alert for the stopped blackbox_exporter", lambda: [
            a for a in get_json(f"{server.alertmanager_url()}/api/v2/alerts")
            if a["labels"]["alertname"] == "BlackboxExporterDown" and a["labels"].get("monitor") == server.name], 120)
    finally:
        deployed.exec(server.name, "systemctl start prometheus-blackbox-exporter")


def test_a_dead_alertmanager_is_noticed_by_the_dead_mans_switch(deployed: Any) -> None:
    inv = deployed.inventory
    server = _monitoring_host(inv)
    first = wait_for("a Watchdog at the dead man's switch", lambda: _watchdog(inv)[1]["last_seen"], 150, 5)
    before = len(_noc_mail(deployed))
    deployed.exec(server.name, "systemctl stop prometheus-alertmanager")
    stopped = time.monotonic()
    try:
        from monitoring.settings import duration_seconds

        silent_after = duration_seconds(server.settings.deadmansswitch_silent_after)
        state = wait_for("the dead man's switch to notice", lambda: _watchdog(inv)[0] == 503 and _watchdog(inv)[1],
                         silent_after + 60, 5)
        assert state["last_seen"] >= first and state["silent"] is True
        print(f"Alertmanager stopped -> silence noticed: {time.monotonic() - stopped:.1f} s "
              f"({time.time() - state['last_seen']:.0f} s after the last Watchdog)")
        wait_for("the dead man's switch's own mail to the NOC", lambda: [
            m for m in _noc_mail(deployed)[before:] if "DEAD MAN'S SWITCH" in m and "alerting is broken" in m], 60, 3)
    finally:
        deployed.exec(server.name, "systemctl start prometheus-alertmanager")
    wait_for("the Watchdog back at the dead man's switch", lambda: _watchdog(inv)[0] == 200, 180, 5)


def test_blackbox_probes_every_app_and_certificate_and_the_exporter_tells_its_build(deployed: Any) -> None:
    """The probes the egov exporter no longer runs itself: blackbox's multi-target jobs reach every
    application's health URL and every TLS port, each series with its target host's labels; the
    deployed exporter runs the code of this checkout."""
    from monitoring.exporter.server import revision
    from monitoring.targets import build_plan, probe_targets

    inv = deployed.inventory
    top = build_plan(inv).top[0]
    expected = {(t.job, t.labels["instance"], t.labels.get("app") or t.labels.get("endpoint", ""), t.labels["site"])
                for t in probe_targets(inv, top) if t.job in ("blackbox_app", "blackbox_tls")}
    assert {job for job, *_ in expected} == {"blackbox_app", "blackbox_tls"}

    def probed() -> set[tuple[str, str, str, str]]:
        rows = query(top.url(), 'probe_success{job=~"blackbox_app|blackbox_tls"} == 1')
        return {(r["metric"]["job"], r["metric"]["instance"], r["metric"].get("app") or r["metric"]["endpoint"],
                 r["metric"]["site"]) for r in rows}

    wait_for("every application and TLS port probed successfully", lambda: probed() == expected, 120, 5)
    expiry = {r["metric"]["endpoint"]: float(r["value"][1])
              for r in query(top.url(), 'probe_ssl_earliest_cert_expiry{job="blackbox_tls"}')}
    assert set(expiry) == {e for job, _, e, _ in expected if job == "blackbox_tls"}
    assert all(stamp > time.time() for stamp in expiry.values()), expiry
    builds = {r["metric"]["instance"]: r["metric"]["revision"] for r in query(top.url(), "egov_exporter_build_info")}
    assert builds and set(builds.values()) == {revision()}, builds
    assert query(top.url(), 'process_resident_memory_bytes{job="egov"}')


def test_every_agency_portal_is_probed_by_its_name(deployed: Any) -> None:
    """Each agency's component portal (inventory/lab.yml has two): blackbox asks the VIP with the portal's
    name (its hostname parameter, from the target's __param_hostname), verifies the platform CA's
    certificate for it and HSTS; each series carries its agency's site."""
    from monitoring.targets import build_plan, portal_targets

    inv = deployed.inventory
    top = build_plan(inv).top[0]
    expected = {(t.labels["instance"], t.labels["site"]) for t in portal_targets(inv)}
    assert len(expected) == len(inv.agencies) == 2

    def probed() -> set[tuple[str, str]]:
        rows = query(top.url(), 'probe_success{job="blackbox_http_portal"} == 1')
        return {(r["metric"]["instance"], r["metric"]["site"]) for r in rows}

    wait_for("every agency's portal probed successfully", lambda: probed() == expected, 120, 5)
