"""The apps and local_node deploys' data, artifact and templates, checked by the services' own checkers."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from ipaddress import ip_network
from pathlib import Path

import pytest

from deploys import apps, render
from deploys.apps import build_artifact, release_id
from deploys.local_node import _served_networks
from inventory import load_inventory
from inventory.applications import APPS
from inventory.services import app_config_path

LAB = Path(__file__).resolve().parents[2] / "inventory" / "lab.yml"
SYSTEM_PYTHON = "/usr/bin/python3"


def test_apps_have_distinct_ports_names_and_paths() -> None:
    for attr in ("port", "name", "path", "unit", "secret"):
        values = [getattr(app, attr) for app in APPS.values()]
        assert len(set(values)) == len(values), attr
    assert app_config_path("app_portal") == "/etc/egov/portal.ini"


def test_artifact_is_reproducible_and_holds_the_app(tmp_path: Path) -> None:
    first = build_artifact(tmp_path / "a")
    second = build_artifact(tmp_path / "b")
    assert first.name == second.name == f"refapp-{release_id()}.tar.gz"
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["refapp.py"].mode == 0o755 and members["refapp.py"].uid == 0


def test_a_changed_app_is_a_new_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "refapp"
    shutil.copytree(apps.REFAPP, copy)
    monkeypatch.setattr(apps, "REFAPP", copy)
    before = release_id()
    (copy / "refapp.py").write_text((copy / "refapp.py").read_text() + "\n# changed\n")
    assert release_id() != before and release_id().startswith(before.split("-")[0])


def test_config_renders_and_passes_the_apps_own_check(tmp_path: Path) -> None:
    app = APPS["app_docmgmt"]
    text = render("apps", "app.ini.j2", app=app, role_name="app_docmgmt", listen="0.0.0.0",
                  dsn="host=10.22.176.12,10.22.176.13 port=5432 dbname=docmgmt user=docmgmt password=pw-xyz-123 "
                      "target_session_attrs=read-write connect_timeout=3",
                  directories=["ldaps://10.22.146.12:636", "ldaps://10.22.146.13:636"],
                  base="dc=quangninh,dc=gov,dc=vn")
    path = tmp_path / "docmgmt.ini"
    path.write_text(text)
    check = [SYSTEM_PYTHON, str(apps.REFAPP / "refapp.py"), "--check", "--config", str(path)]
    assert subprocess.run(check, capture_output=True, check=False).returncode == 0
    path.write_text(text.replace("port = 8101", "port = eighty"))
    refused = subprocess.run(check, capture_output=True, text=True, check=False)
    assert refused.returncode == 2 and "port" in refused.stderr and "pw-xyz-123" not in refused.stderr


def test_unit_runs_the_current_release_as_the_app_user() -> None:
    app = APPS["app_portal"]
    unit = render("apps", "app.service.j2", app=app, home="/opt/egov/portal", config="/etc/egov/portal.ini")
    assert "User=portal\n" in unit and "Group=portal\n" in unit
    assert "ExecStart=/usr/bin/python3 /opt/egov/portal/current/refapp.py --config /etc/egov/portal.ini" in unit
    assert "WantedBy=multi-user.target" in unit


def test_district_serves_its_own_and_its_communes_networks() -> None:
    inv = load_inventory(LAB)
    nets = [ip_network(n) for n in _served_networks(str(LAB), "tien-yen")]
    expected = [net for site in inv.sites.values() if site.name == "tien-yen" or site.parent == "tien-yen"
                for net in site.subnets.values()]
    assert sorted(nets) == sorted(set(expected))
    dam_ha = {ip_network(n) for n in _served_networks(str(LAB), "dam-ha")}
    assert not dam_ha & set(nets)


def _district_context() -> dict[str, object]:
    return {"networks": ["10.22.192.0/27", "10.22.208.0/24"], "zone": "quangninh.gov.vn", "tls_port": 853,
            "forwarders": [("10.22.146.10", "dc-app1.quangninh.gov.vn"), ("10.22.146.11", "dc-app2.quangninh.gov.vn")],
            "ca": "/etc/ssl/certs/ca-certificates.crt"}


@pytest.mark.skipif(shutil.which("unbound-checkconf") is None, reason="unbound is not installed here")
def test_unbound_config_passes_unbound_checkconf(tmp_path: Path) -> None:
    text = render("local_node", "unbound.conf.j2", **_district_context())
    assert "forward-addr: 10.22.146.11@853#dc-app2.quangninh.gov.vn" in text and "forward-tls-upstream: yes" in text
    assert 'domain-insecure: "quangninh.gov.vn"' in text
    path = tmp_path / "unbound.conf"
    path.write_text(text)
    ok = subprocess.run(["unbound-checkconf", str(path)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    path.write_text(text.replace("allow", "permit-everything", 1))
    assert subprocess.run(["unbound-checkconf", str(path)], capture_output=True, check=False).returncode != 0


@pytest.mark.skipif(shutil.which("squid") is None, reason="squid is not installed here")
def test_squid_config_passes_squid_parse(tmp_path: Path) -> None:
    text = render("local_node", "squid.conf.j2", networks=["10.22.192.0/27"], port=3128, mirror="10.22.146.14",
                  mirror_name="dc-ops1.quangninh.gov.vn", mirror_port=3143, ca="/etc/ssl/certs/ca-certificates.crt",
                  cache_mb=1024, max_object_mb=512)
    assert "cache_peer 10.22.146.14 parent 3143" in text and "never_direct allow all" in text
    assert " tls tls-cafile=/etc/ssl/certs/ca-certificates.crt tls-domain=dc-ops1.quangninh.gov.vn " in text
    path = tmp_path / "squid.conf"
    path.write_text(text)
    ok = subprocess.run(["squid", "-k", "parse", "-f", str(path)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    path.write_text(text.replace("http_port 3128", "http_port not-a-port"))
    assert subprocess.run(["squid", "-k", "parse", "-f", str(path)], capture_output=True, check=False).returncode != 0
