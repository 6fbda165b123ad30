"""Monitoring configuration generated from the inventory: targets, labels, federation, Alertmanager."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from egov.errors import MonitoringError
from inventory import load_inventory
from monitoring.alertmanager import alertmanager_config
from monitoring.config import check, generate, write_tree
from monitoring.settings import settings_from
from monitoring.targets import build_plan

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "inventory" / "lab.yml"
FEDERATED = ROOT / "tests" / "fixtures" / "monitoring" / "federated.yml"


@pytest.fixture
def checkers() -> None:
    """promtool and amtool are part of the test setup (.ci/run installs them): missing is a failure."""
    for tool in ("promtool", "amtool"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: apt-get install prometheus prometheus-alertmanager")


@pytest.fixture(scope="module")
def lab_inv():
    return load_inventory(LAB)


@pytest.fixture(scope="module")
def fed_inv():
    return load_inventory(FEDERATED)


def _sd(files: dict[str, str], job: str) -> list[dict]:
    return json.loads(files[f"file_sd/{job}.json"])


def test_every_host_router_and_link_is_a_labelled_target(lab_inv) -> None:
    (server,) = generate(lab_inv).values()
    node = {g["labels"]["instance"]: g for g in _sd(server.files, "node")}
    assert set(node) == set(lab_inv.hosts)
    db1 = node["dc-db1"]
    assert db1["targets"] == [f"{lab_inv.hosts['dc-db1'].mgmt_ip}:9100"]
    assert db1["labels"] | {"site": "dc", "level": "province", "zone": "dc", "role": "db"} == db1["labels"]
    routers = {g["labels"]["instance"]: g for g in _sd(server.files, "icmp_router")}
    assert set(routers) == set(lab_inv.routers)
    commune = routers["qn-ty-tien-yen-r1"]
    assert commune["targets"] == [str(lab_inv.routers["qn-ty-tien-yen-r1"].loopback)]
    assert commune["labels"]["level"] == "commune" and commune["labels"]["zone"] == "tien-yen"
    links = _sd(server.files, "icmp_link")
    assert sorted(g["labels"]["instance"] for g in links) == sorted(link.name for link in lab_inv.links)
    assert {g["labels"]["instance"] for g in _sd(server.files, "postgres")} == {"dc-db1", "dc-db2"}


def test_generation_is_deterministic_and_idempotent(lab_inv, tmp_path: Path) -> None:
    first, second = generate(lab_inv), generate(lab_inv)
    assert {n: s.files for n, s in first.items()} == {n: s.files for n, s in second.items()}
    files = first["dc-ops1"].files
    assert sorted(write_tree(files, tmp_path)) == sorted(files)
    assert write_tree(files, tmp_path) == []
    (tmp_path / "file_sd" / "gone.json").write_text("[]")
    assert write_tree(files, tmp_path) == ["file_sd/gone.json"]


def test_lab_gets_short_intervals_production_the_defaults(lab_inv, fed_inv) -> None:
    lab = yaml.safe_load(generate(lab_inv)["dc-ops1"].files["prometheus.yml"])["global"]
    prod = yaml.safe_load(generate(fed_inv)["dc-ops1"].files["prometheus.yml"])["global"]
    assert lab["scrape_interval"] == "5s"
    assert prod["scrape_interval"] == "15s"  # the inventory's built-in default (seconds) wins over ours


@pytest.mark.usefixtures("checkers")
@pytest.mark.parametrize("path", [LAB, FEDERATED, ROOT / "inventory" / "quangninh.yml",
                                  ROOT / "inventory" / "quangninh-2025.yml"],
                         ids=["lab", "federated", "quangninh", "quangninh-2025"])
def test_generated_configs_pass_promtool_and_amtool(path: Path, tmp_path: Path) -> None:
    for name, server in generate(load_inventory(path)).items():
        write_tree(server.files, tmp_path / name)
        ran = check(tmp_path / name)
        assert ran[0].startswith("promtool check config")


@pytest.mark.usefixtures("checkers")
def test_a_broken_config_is_refused_with_promtool_output(lab_inv, tmp_path: Path) -> None:
    files = dict(generate(lab_inv)["dc-ops1"].files)
    files["rules/egov.yml"] = files["rules/egov.yml"].replace("expr: up{job=\"node\"} == 0", "expr: up{job=")
    write_tree(files, tmp_path)
    with pytest.raises(MonitoringError, match="promtool check config"):
        check(tmp_path)


def test_district_server_is_federated_by_the_province(fed_inv) -> None:
    gen = generate(fed_inv)
    province, district = gen["dc-ops1"].files, gen["qn-ty-mon1"].files
    # the district scrapes its own subtree; the province no longer does
    assert {g["labels"]["site"] for g in _sd(district, "icmp_router")} == {
        "tien-yen", "ty-tien-yen", "ty-dong-ngu"}
    assert not {g["labels"]["site"] for g in _sd(province, "icmp_router")} & {"tien-yen", "ty-tien-yen"}
    fed = _sd(province, "federate")
    assert fed == [{"targets": [f"{fed_inv.hosts['qn-ty-mon1'].mgmt_ip}:9090"],
                    "labels": {"site": "tien-yen", "level": "district", "zone": "tien-yen",
                               "instance": "qn-ty-mon1", "role": "monitoring"}}]
    assert _sd(district, "federate") == []
    job = next(j for j in yaml.safe_load(province["prometheus.yml"])["scrape_configs"] if j["job_name"] == "federate")
    assert job["honor_labels"] is True and job["params"]["match[]"] == [
        '{__name__=~"site:.+"}', '{__name__="prometheus_notifications_alertmanagers_discovered",job="prometheus"}']
    # both evaluate the aggregates; alerts go to the province's Alertmanager only
    dconf = yaml.safe_load(district["prometheus.yml"])
    assert dconf["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        f"{fed_inv.hosts['dc-ops1'].mgmt_ip}:9093"]
    assert "alertmanager.yml" in province and "alertmanager.yml" not in district
    assert yaml.safe_load(district["rules/egov.yml"])["groups"][0]["name"] == "egov-aggregates"


def test_alertmanager_routes_groups_and_inhibits(fed_inv) -> None:
    am = yaml.safe_load(generate(fed_inv)["dc-ops1"].files["alertmanager.yml"])
    route = am["route"]
    assert route["receiver"] == "noc" and route["group_by"] == ["alertname", "site"]
    assert route["routes"][1] == {"matchers": ['severity="critical"'], "receiver": "noc", "continue": True}
    it = route["routes"][2]
    assert it["receiver"] == "it-tien-yen"
    assert it["matchers"] == ['site=~"tien-yen|ty-tien-yen|ty-dong-ngu"']  # communes inherit the district's IT
    receivers = {r["name"]: r for r in am["receivers"]}
    assert receivers["it-tien-yen"]["email_configs"][0]["to"] == "it@tienyen.quangninh.gov.vn"
    assert receivers["it-tien-yen"]["webhook_configs"][0]["url"] == "http://192.0.2.10/hook"
    assert receivers["noc"]["email_configs"][0]["to"] == "noc@quangninh.gov.vn"
    inhibit = am["inhibit_rules"]
    assert {"source_matchers": ['alertname="SiteUnreachable"', 'level=~"district"'],
            "target_matchers": ['level=~"commune"'], "equal": ["zone"]} in inhibit
    assert inhibit[0]["equal"] == ["site"]
    # a mail host exists: it is the smarthost
    assert am["global"]["smtp_smarthost"] == f"{fed_inv.hosts['dc-ops1'].server_ip}:25"


def test_bad_setting_names_where_it_was_set() -> None:
    with pytest.raises(MonitoringError) as err:
        settings_from({"monitoring__host_down_for": "soon", "monitoring__cert_warning_days": -1}, "x.gov.vn",
                      lambda key: "site dam-ha")
    text = str(err.value)
    assert "site dam-ha: monitoring__host_down_for: not a Prometheus duration" in text
    assert "site dam-ha: monitoring__cert_warning_days: expected a positive integer" in text


def test_an_inventory_without_monitoring_host_is_an_error(lab_inv, monkeypatch) -> None:
    monkeypatch.setattr(lab_inv, "hosts_with_role", lambda role: [])
    with pytest.raises(MonitoringError, match="no host has role 'monitoring'"):
        build_plan(lab_inv)


def test_exporter_config_lists_routers_with_their_own_labels_and_backups(lab_inv) -> None:
    conf = yaml.safe_load(generate(lab_inv)["dc-ops1"].files["egov-exporter.yml"])
    assert conf["listen"] == "0.0.0.0:9200"
    routers = {r["router"]: r for r in conf["routers"]}
    assert set(routers) == set(lab_inv.routers)
    for name, r in routers.items():  # each router's own place, not the monitoring host's
        site = lab_inv.sites[lab_inv.routers[name].site]
        assert (r["site"], r["level"]) == (site.name, site.level)
    assert "apps" not in conf and "tls" not in conf  # blackbox probes those (test_monitoring_probes.py)
    assert conf["backup_status_file"] == "/var/lib/egov/backup-status.json"


def test_two_level_province_has_no_district_inhibition_and_every_site_is_watched() -> None:
    inv = load_inventory(ROOT / "inventory" / "quangninh-2025.yml")
    plan = build_plan(inv)
    assert sorted(s for server in plan.servers.values() for s in server.sites) == sorted(inv.sites)
    am = yaml.safe_load(generate(inv)[plan.top[0].name].files["alertmanager.yml"])
    assert all("equal" in r and r["equal"] != ["zone"] for r in am["inhibit_rules"])  # no level between


def test_a_second_province_level_site_is_watched_by_the_top_server() -> None:
    inv = load_inventory(ROOT / "inventory" / "quangninh.yml")
    plan = build_plan(inv)
    orphans = [s.name for s in inv.sites.values() if s.parent is None]
    assert len(orphans) > 1  # the data centre and the PASC
    watched = {s for server in plan.servers.values() for s in server.sites}
    assert set(orphans) <= watched and watched == set(inv.sites)


def test_tls_ports_follow_the_deploys() -> None:
    from inventory.services import WEB_PORT

    s = settings_from({}, "x.gov.vn")
    assert s.tls_ports["web"] == [WEB_PORT]


def test_deploy_checks_every_generated_file_and_loads_the_main_config_last(lab_inv) -> None:
    from deploys.monitoring import OWN_FILES, _check_for, _order

    files = [rel for rel in generate(lab_inv)["dc-ops1"].files if rel not in OWN_FILES]
    checks = {rel: _check_for(rel)[0] for rel in files}
    assert checks["prometheus.yml"] == "promtool check config {path}"
    assert checks["rules/egov.yml"] == "promtool check rules {path}"
    assert checks["alertmanager.yml"] == "amtool check-config {path}"
    assert max(files, key=_order) == "prometheus.yml"


def test_the_shipped_exporter_needs_only_what_debian_packages() -> None:
    """deploys/exporters.py copies exporter_files() to hosts that have only Debian's python3 packages."""
    import ast
    import sys

    from deploys.exporters import EXPORTER_PACKAGE, exporter_files

    shipped = exporter_files()
    assert f"{EXPORTER_PACKAGE}/__main__.py" in shipped  # the unit runs python3 -m monitoring.exporter
    allowed = {"prometheus_client", "yaml", "cryptography", "bcrypt", "egov", "monitoring", "__future__"}
    for rel in shipped:
        tree = ast.parse((ROOT / rel).read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or top in sys.stdlib_module_names, f"{rel} imports {name}"
                if top in ("egov", "monitoring"):
                    module = name.replace(".", "/")
                    assert f"{module}.py" in shipped or f"{module}/__init__.py" in shipped, (
                        f"{rel} imports {name}, which is not shipped")


@pytest.mark.usefixtures("checkers")
@pytest.mark.parametrize(("labels", "receivers"), [
    (["severity=critical", "site=ty-tien-yen"], "noc,it-tien-yen"),  # a commune's page: NOC and its district's IT
    (["severity=warning", "site=ty-dong-ngu"], "it-tien-yen"),  # a ticket: the district's IT only
    (["severity=warning", "site=dh-dam-ha"], "noc"),  # no IT address of its own: the NOC
    (["alertname=SiteUnreachable", "severity=critical", "site=tien-yen"], "noc,it-tien-yen"),
    # the heartbeat reaches the dead man's switch only, whatever else it carries
    (["alertname=Watchdog", "severity=none"], "deadmansswitch"),
    (["alertname=Watchdog", "severity=critical", "site=tien-yen"], "deadmansswitch"),
    # self-monitoring of the province's Prometheus (its site is the data centre's): the NOC
    (["alertname=AlertmanagerNotificationsFailing", "severity=critical", "site=dc"], "noc"),
])
def test_amtool_routes_alerts_to_the_right_people(fed_inv, tmp_path: Path, labels: list[str],
                                                  receivers: str) -> None:
    """`amtool config routes test` walks the generated tree as Alertmanager does."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(generate(fed_inv)["dc-ops1"].files["alertmanager.yml"])
    proc = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={path}", *labels],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == receivers


def test_the_watchdog_goes_to_the_dead_mans_switch_url(fed_inv) -> None:
    plan = build_plan(fed_inv)
    plan.settings = dataclasses.replace(plan.settings, deadmansswitch_url="https://hc.example/ping/abc")
    am = alertmanager_config(fed_inv, plan)
    receivers = {r["name"]: r for r in am["receivers"]}
    # the outside service first, then the toolkit's own receiver on the top-level server (delivery)
    assert receivers["deadmansswitch"] == {"name": "deadmansswitch", "webhook_configs": [
        {"url": "https://hc.example/ping/abc", "send_resolved": True},
        {"url": "http://10.22.146.14:9097/deadmansswitch", "send_resolved": True}]}
    watchdog = am["route"]["routes"][0]
    assert watchdog["matchers"] == ['alertname="Watchdog"'] and "continue" not in watchdog
    assert watchdog["repeat_interval"] == "5m"


def test_alertmanager_and_blackbox_are_scraped_by_every_server(fed_inv) -> None:
    gen = generate(fed_inv)
    for name, server in gen.items():
        jobs = {j["job_name"]: j for j in yaml.safe_load(server.files["prometheus.yml"])["scrape_configs"]}
        assert jobs["alertmanager"]["file_sd_configs"] == [{"files": ["file_sd/alertmanager.json"]}]
        # every top-level Alertmanager, the one its alerts go to (district servers included)
        assert _sd(server.files, "alertmanager") == [{
            "targets": [f"{fed_inv.hosts['dc-ops1'].mgmt_ip}:9093"],
            "labels": {"site": "dc", "level": "province", "zone": "dc", "instance": "dc-ops1", "role": "monitoring"}}]
        # its own blackbox, where its probe jobs send their probes
        (blackbox,) = _sd(server.files, "blackbox")
        assert blackbox["targets"] == ["127.0.0.1:9115"] and blackbox["labels"]["instance"] == name
        assert jobs["icmp_router"]["relabel_configs"][1]["replacement"] == "127.0.0.1:9115"
        assert jobs["egov"]["honor_labels"] is True  # the exporter's per-target site labels win


def test_each_server_expects_what_it_watches(fed_inv) -> None:
    """The district server's rules expect its own routers; the province's the rest, and the backups."""
    gen = generate(fed_inv)
    def expected(name: str, alertname: str) -> set[str]:
        groups = yaml.safe_load(gen[name].files["rules/egov.yml"])["groups"]
        return {r["labels"].get("instance") or r["labels"].get("app") or r["labels"].get("endpoint")
                for g in groups if g["name"] == "egov-expected" for r in g["rules"] if r["alert"] == alertname}
    assert expected("qn-ty-mon1", "RouterUnreachable") == {"qn-ty-r1", "qn-ty-tien-yen-r1", "qn-ty-dong-ngu-r1"}
    province = expected("dc-ops1", "RouterUnreachable")
    assert "qn-core1" in province and not province & {"qn-ty-r1", "qn-ty-tien-yen-r1"}
    assert expected("qn-ty-mon1", "BackupTooOld") == set()
    assert expected("dc-ops1", "AppDown") == {"docmgmt", "onestop", "portal", "specdb"}
