"""The services table: every port a host's services are configured to listen on is opened by its
firewall, for the lab and the two sample provinces, and a moved monitoring port moves the opening.

What a service listens on is read from where it is configured (the monitoring settings, the apps
table, the rendered settings files and the listen lines of the role templates), never from the
table the firewall reads, so a port missing from the table fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploys import TEMPLATES, base, dns, local_node, mirror, render, web
from deploys.base import firewall_rules
from deploys.roles import ROLES
from egov.errors import InventoryError
from inventory import load_inventory
from inventory.applications import APPS
from inventory.model import Host, Inventory
from inventory.services import EVERY_HOST, INVENTORY_ROLES, ORDER, listen_ports, plain_syslog_sources, router_addresses
from monitoring.config import exporter_config
from monitoring.targets import build_plan, host_settings
from monitoring.webconfig import WEB_CONFIG

ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = [ROOT / "inventory" / name for name in ("lab.yml", "quangninh.yml", "quangninh-2025.yml")]
# Ports a service takes by default, its config naming none: PostgreSQL (db/egov.conf.j2 sets only
# listen_addresses), chrony serving the clients it `allow`s, postfix's master.cf services, dovecot's imaps.
DEFAULT_PORTS = {"postgresql": "tcp/5432", "ntp": "udp/123", "smtp": "tcp/25", "submission": "tcp/587",
                 "imaps": "tcp/993"}
LISTEN_ADDRESS = re.compile(r"--(web|cluster)\.listen-address=\S*:(\d+)")


def _template(path: str) -> str:
    return (TEMPLATES / path).read_text(encoding="utf-8")


def _listen_args(text: str) -> set[str]:
    """The ports of ``--web.listen-address`` (TCP) and ``--cluster.listen-address`` (gossip: TCP and UDP)."""
    out = set()
    for kind, port in LISTEN_ADDRESS.findall(text):
        out |= {f"tcp/{port}", f"udp/{port}"} if kind == "cluster" else {f"tcp/{port}"}
    return out


def _both(port: str) -> set[str]:
    return {f"tcp/{port}", f"udp/{port}"}


def _one(pattern: str, text: str) -> str:
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"no {pattern!r} in the config"
    return found.group(1)


def _monitoring(inv: Inventory, host: Host) -> set[str]:
    s = host_settings(inv, host)
    out = _listen_args(render("monitoring", "prometheus.default.j2", port=s.prometheus_port, retention=s.retention,
                                      web_config=WEB_CONFIG, external_name=host.name))
    out |= _listen_args(render("monitoring", "blackbox.default.j2", port=s.blackbox_port, web_config=WEB_CONFIG))
    plan = build_plan(inv)
    if plan.servers[host.name].top:  # as deploys/monitoring.py configures Alertmanager
        peers = [f"{t.address}:{t.settings.alertmanager_cluster_port}" for t in plan.top if t.name != host.name]
        listen = f"0.0.0.0:{s.alertmanager_cluster_port}" if peers else ""
        out |= _listen_args(render("monitoring", "alertmanager.default.j2", port=s.alertmanager_port,
                                   cluster_listen=listen, peers=peers, web_config=WEB_CONFIG,
                                   external_name=host.name))
    return out


def configured(inv: Inventory, host: Host) -> set[str]:
    """What the host's services are configured to listen on (SSH aside: base opens it on its own)."""
    roles = set(host.roles)
    s = host_settings(inv, host)
    out = _listen_args(render("exporters", "node-exporter.default.j2", port=s.node_exporter_port,
                                      web_config=WEB_CONFIG))
    if "db" in roles:
        out |= _listen_args(render("exporters", "postgres-exporter.default.j2", port=s.postgres_exporter_port,
                                   queries="/q.yml", web_config=WEB_CONFIG))
        assert "port" not in _template("db/egov.conf.j2")
        out.add(DEFAULT_PORTS["postgresql"])
    if roles & {"monitoring", "backup"}:
        out.add("tcp/" + str(exporter_config(inv, host)["listen"]).rpartition(":")[2])
    if "monitoring" in roles:
        out |= _monitoring(inv, host)
    out |= {f"tcp/{APPS[role].port}" for role in roles & set(APPS)}
    if roles & {"dns", "local_node"}:
        for path in ("dns/unbound.conf.j2", "local_node/unbound.conf.j2"):
            out |= _both(_one(r"^\s*port: (\d+)", _template(path)))
    if "dns" in roles:  # DNS over TLS, on the port the deploy gives the template
        resolver = render("dns", "unbound.conf.j2", zone="x", records=[], allow=[], forwarders=[],
                          tls_port=dns.DNS_TLS_PORT, cert="c", key="k")
        out.add("tcp/" + _one(r"^\s*tls-port: (\d+)", resolver))
    if "local_node" in roles:
        squid = render("local_node", "squid.conf.j2", networks=["10.0.0.0/24"],
                       port=local_node.DISTRICT_PROXY_PORT, mirror="10.0.0.1", mirror_name="m", mirror_port=1, ca="c",
                       cache_mb=1, max_object_mb=1)
        out.add("tcp/" + _one(r"^http_port (\d+)", squid))
    if "lb" in roles:
        out |= {f"tcp/{port}" for port in re.findall(r"^\s*bind :(\d+)", _template("lb/haproxy.cfg.j2"), re.MULTILINE)}
        out.add("vrrp")  # keepalived
    if "web" in roles:
        site = render("web", "site.conf.j2", apps=[], port=web.WEB_PORT, server_names=["x"], portals=[], cert="c",
                      key="k")
        out.add("tcp/" + _one(r"^\s*listen (\d+) ssl", site))
    if "log" in roles:
        central = _template("log/central.conf.j2")
        out |= {f"{proto}/{port}" for proto, port in re.findall(r'type="im(tcp|udp)" port="(\d+)"', central)}
    if "mirror" in roles:
        # apt-cacher-ng binds the loopback; nginx's TLS in front of it is what other hosts reach
        acng = render("mirror", "acng.conf.j2", port=mirror.PACKAGE_CACHE_PORT, upstream="")
        assert _one(r"^BindAddress: (\S+)", acng) == "127.0.0.1"
        front = render("mirror", "mirror-tls.conf.j2", port=mirror.PACKAGE_MIRROR_TLS_PORT,
                       cache_port=mirror.PACKAGE_CACHE_PORT, cert="c", key="k")
        out.add("tcp/" + _one(r"^\s*listen (\d+) ssl", front))
    if "mail" in roles:
        master = _template("mail/master.cf.j2")
        out |= {DEFAULT_PORTS[name] for name in re.findall(r"^(smtp|submission)\s+inet", master, re.MULTILINE)}
        out.add(DEFAULT_PORTS["imaps"])
    if "ntp" in roles:
        out.add(DEFAULT_PORTS["ntp"])
        # NTS key establishment, on the port the deploy gives the template (deploys/ntp.py)
        chrony = render("base", "chrony.conf.j2", servers=[], nts_servers=[], peers=[], allow=["10.0.0.0/8"],
                        local_stratum=8, ca="a", nts_cert="c", nts_key="k", nts_port=base.NTS_KE_PORT)
        out.add("tcp/" + _one(r"^ntsport (\d+)", chrony))
    return out


def opened(host: Host) -> set[str]:
    """The firewall's openings, read back from the nftables rules the base role renders."""
    out = set()
    for rule in firewall_rules(list(host.roles), [], host.vars, host.name):
        if rule == "ip protocol vrrp":
            out.add("vrrp")
        else:
            proto, _, port = rule.partition(" dport ")
            out.add(f"{proto}/{port}")
    return out


def _closed(inv: Inventory) -> dict[str, set[str]]:
    return {name: missing for name, host in inv.hosts.items() if (missing := configured(inv, host) - opened(host))}


@pytest.mark.parametrize("path", INVENTORIES, ids=lambda p: p.name)
def test_every_configured_port_is_opened(path: Path) -> None:
    inv = load_inventory(path)
    assert _closed(inv) == {}


def _variant(tmp_path: Path, change: Any) -> Inventory:
    doc = yaml.safe_load((ROOT / "inventory" / "lab.yml").read_text(encoding="utf-8"))
    change(doc)
    path = tmp_path / "lab.yml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_inventory(path)


def _dc_host(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(h for site in doc["sites"] for h in site.get("hosts", []) if h["name"] == name)


def test_a_monitoring_port_override_moves_the_opening(tmp_path: Path) -> None:
    def override(doc: dict[str, Any]) -> None:
        doc["defaults"]["monitoring__prometheus_port"] = 19090
        _dc_host(doc, "dc-app1")["vars"] = {"monitoring__node_exporter_port": 19100}

    inv = _variant(tmp_path, override)
    ops, app = opened(inv.hosts["dc-ops1"]), opened(inv.hosts["dc-app1"])
    assert "tcp/19090" in ops and "tcp/9090" not in ops
    assert "tcp/19100" in app and "tcp/9100" not in app and "tcp/9100" in ops
    assert _closed(inv) == {}


def test_two_dc_alertmanagers_gossip_through_the_firewall(tmp_path: Path) -> None:
    inv = _variant(tmp_path, lambda doc: _dc_host(doc, "dc-db2")["roles"].append("monitoring"))
    for name in ("dc-ops1", "dc-db2"):
        assert {"tcp/9094", "udp/9094"} <= configured(inv, inv.hosts[name]) & opened(inv.hosts[name])
    assert _closed(inv) == {}


def test_a_port_setting_that_is_not_a_port_names_the_host_and_key() -> None:
    host = load_inventory(INVENTORIES[0]).hosts["dc-ops1"]
    with pytest.raises(InventoryError, match=r"dc-ops1: monitoring__prometheus_port: expected a port number"):
        listen_ports(host.roles, {**host.vars, "monitoring__prometheus_port": "9090"}, host.name)


def test_the_table_lists_every_role_once_in_deploy_order() -> None:
    assert len(set(ORDER)) == len(ORDER) and set(ORDER) == set(ROLES)  # each has its deploy
    assert ORDER[:len(EVERY_HOST)] == EVERY_HOST and not set(EVERY_HOST) & set(INVENTORY_ROLES)
    assert ORDER.index("web") < ORDER.index("lb")


def _router(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for site in doc["sites"] for r in site.get("routers", []) if r["name"] == name)


def test_plain_syslog_is_taken_only_from_the_routers_set_to_udp(tmp_path: Path) -> None:
    """Every lab router on TLS (the default): no UDP source and no opening. One router set to udp:
    its Loopback0 alone, on the log host only; every address of a router names its file."""
    lab = load_inventory(ROOT / "inventory" / "lab.yml")
    assert plain_syslog_sources(lab) == []
    assert not [rule for rule in firewall_rules(["log"], [], lab.hosts["dc-ops1"].vars, "dc-ops1",
                                                plain_syslog_sources(lab)) if "udp dport 514" in rule]
    inv = _variant(tmp_path, lambda doc: _router(doc, "qn-core1").setdefault("vars", {}).update(
        network__syslog_transport="udp"))
    core = inv.routers["qn-core1"]
    assert plain_syslog_sources(inv) == [f"{core.loopback}/32"]
    assert f"ip saddr {{ {core.loopback}/32 }} udp dport 514" in firewall_rules(
        ["log"], [], inv.hosts["dc-ops1"].vars, "dc-ops1", plain_syslog_sources(inv))
    named = dict(router_addresses(inv))
    assert {named[str(core.loopback)], named[str(core.interfaces[0].ip.ip)], named[str(core.mgmt_ip)]} == {"qn-core1"}
    assert set(named.values()) == set(inv.routers)
