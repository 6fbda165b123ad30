"""Applications' health, TLS certificates and the document-exchange platform are probed by
blackbox_exporter through Prometheus' multi-target pattern (``?target=`` by relabelling), each
target labelled with its own host's site. The modules themselves run on the real blackbox in
test_monitoring_exporter.py; the generated Prometheus config passes ``promtool check config``
here."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from inventory import load_inventory
from monitoring.config import generate, write_tree

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def federated() -> dict[str, dict[str, str]]:
    inv = load_inventory(ROOT / "tests" / "fixtures" / "monitoring" / "federated.yml")
    return {name: server.files for name, server in generate(inv).items()}


def test_probe_jobs_use_blackbox_multi_target(federated) -> None:
    conf = yaml.safe_load(federated["dc-ops1"]["prometheus.yml"])
    jobs = {j["job_name"]: j for j in conf["scrape_configs"]}
    for job, module in (("blackbox_app", "http_health"), ("blackbox_tls", "tls_certificate"),
                        ("blackbox_docexchange", "http_2xx")):
        j = jobs[job]
        assert j["metrics_path"] == "/probe" and j["params"] == {"module": [module]}
        assert j["relabel_configs"][0] == {"source_labels": ["__address__"], "target_label": "__param_target"}
        assert j["relabel_configs"][1]["target_label"] == "__address__"
        assert j["relabel_configs"][1]["replacement"].endswith(":9115")  # the server's own blackbox
        assert j["file_sd_configs"] == [{"files": [f"file_sd/{job}.json"]}]
    assert jobs["egov"]["honor_labels"] is True  # the exporter's per-target labels win
    modules = yaml.safe_load(federated["dc-ops1"]["blackbox.yml"])["modules"]
    assert modules["tls_certificate"]["tcp"]["tls_config"]["server_name"] == "quangninh.gov.vn"


def test_each_probe_target_carries_its_own_hosts_site(federated) -> None:
    apps = json.loads(federated["dc-ops1"]["file_sd/blackbox_app.json"])
    assert {(g["labels"]["app"], g["labels"]["instance"]) for g in apps} == {
        (app, host) for app in ("docmgmt", "onestop", "portal", "specdb") for host in ("dc-app1", "dc-app2")}
    assert all(g["targets"] == [g["labels"]["url"]] and g["labels"]["site"] == "dc" for g in apps)
    tls = json.loads(federated["dc-ops1"]["file_sd/blackbox_tls.json"])
    assert {g["labels"]["endpoint"] for g in tls} == {"dc-app1:8443", "dc-app1:443", "dc-app2:8443", "dc-app2:443",
                                                     "dc-ops1:993", "dc-db1:636", "dc-db2:636"}
    # the district server probes nothing of the data centre's
    district = json.loads(federated["qn-ty-mon1"]["file_sd/blackbox_tls.json"])
    assert all(g["labels"]["site"] == "tien-yen" for g in district)


def test_generated_config_passes_promtool(federated, tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.fail("promtool missing: apt-get install prometheus")
    write_tree(federated["dc-ops1"], tmp_path)
    proc = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_each_agency_portal_is_probed_at_the_vip_with_its_own_name() -> None:
    """One target per agency: the VIP over HTTPS, the portal's name as blackbox's ``hostname`` parameter
    (Host and TLS server name), the agency's site labels; the job asks module http_portal."""
    from inventory import load_inventory
    from monitoring.config import blackbox_config, prometheus_config
    from monitoring.targets import build_plan

    inv = load_inventory(Path(__file__).parents[2] / "inventory" / "lab.yml")
    plan = build_plan(inv)
    (server,) = plan.servers.values()
    portals = [t for t in server.targets if t.job == "blackbox_http_portal"]
    assert [(t.address, t.labels["__param_hostname"], t.labels["site"], t.labels["agency"]) for t in portals] == [
        ("https://10.22.176.5/", "snv.quangninh.gov.vn", "dc", "so-noi-vu"),
        ("https://10.22.176.5/", "tienyen.quangninh.gov.vn", "tien-yen", "tien-yen")]
    jobs = prometheus_config(inv, plan, server)["scrape_configs"]
    job = next(j for j in jobs if j["job_name"] == "blackbox_http_portal")
    assert job["params"] == {"module": ["http_portal"]}
    assert "http_portal" in blackbox_config(inv.province.domain)["modules"]
