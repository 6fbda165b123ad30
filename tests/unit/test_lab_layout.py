"""The lab's plan, derived from the inventory alone: names, addresses, routes, links, renames."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from egov.errors import LabError
from inventory import load_inventory
from lab.layout import _lan_gateway, plan_lab, rename_steps

LAB_YML = Path(__file__).resolve().parents[2] / "inventory" / "lab.yml"


@pytest.fixture(scope="module")
def inv():
    return load_inventory(LAB_YML)


def test_every_network_is_named_after_the_lab_and_mgmt_is_the_mgmt_pool(inv) -> None:
    plan = plan_lab(inv, "mylab")
    assert all(n.name.startswith("mylab-") for n in plan.networks)
    mgmt = plan.network("mgmt")
    assert (mgmt.name, mgmt.subnet, mgmt.gateway) == ("mylab-mgmt", inv.plan.pools["mgmt"], inv.plan.control_ip)
    with_hosts = [s for s in inv.sites.values() if s.hosts]
    assert {n.name for n in plan.networks if n.purpose.startswith("server:")} == {
        f"mylab-{s.name}-server" for s in with_hosts}


def test_lan_bridge_addresses_are_free_and_inside_their_subnet(inv) -> None:
    plan = plan_lab(inv, "lab")
    used = {a.ip for node in plan.nodes.values() for a in node.attachments}
    for net in plan.networks:
        assert net.gateway in net.subnet and net.gateway not in used


def test_nodes_get_their_inventory_addresses_and_names(inv) -> None:
    plan = plan_lab(inv, "lab")
    assert set(plan.nodes) == set(inv.hosts) | set(inv.routers)
    for host in inv.hosts.values():
        node = plan.nodes[host.name]
        assert node.container == f"lab-{host.name}" and node.kind == "host"
        assert [(a.ip, a.ifname) for a in node.attachments] == [(host.mgmt_ip, "eth0"), (host.server_ip, "eth1")]
    for router in inv.routers.values():
        node = plan.nodes[router.name]
        assert node.attachments[0].ip == router.mgmt_ip
        for attachment in node.attachments[1:]:
            lan = router.lan_interfaces["server"]
            assert (attachment.ip, attachment.ifname) == (lan.ip.ip, lan.name)


def test_hosts_route_only_the_supernet_via_their_sites_first_router(inv) -> None:
    plan = plan_lab(inv, "lab")
    for host in inv.hosts.values():
        first = inv.routers[inv.sites[host.site].routers[0]]
        assert plan.nodes[host.name].routes == ((inv.plan.supernet, first.lan_interfaces["server"].ip.ip),)
        assert all(prefix.prefixlen > 0 for prefix, _ in plan.nodes[host.name].routes)


def test_wan_links_become_veths_named_by_the_inventory(inv) -> None:
    plan = plan_lab(inv, "lab")
    assert [(v.a, v.a_ifname, v.b, v.b_ifname) for v in plan.veths] == [
        (link.a.router, link.a.ifname, link.b.router, link.b.ifname) for link in inv.links]
    assert all(len(v.a_ifname) <= 15 and len(v.b_ifname) <= 15 for v in plan.veths)


def test_a_node_recipe_changes_with_its_image_or_addresses(inv) -> None:
    node = plan_lab(inv, "lab").nodes[next(iter(inv.hosts))]
    assert node.recipe("img:1") == node.recipe("img:1")
    assert node.recipe("img:1") != node.recipe("img:2")
    moved = type(node)(node.name, node.container, node.kind, node.mgmt_ip, node.attachments[:1], node.routes)
    assert moved.recipe("img:1") != node.recipe("img:1")


def test_lan_gateway_skips_taken_addresses() -> None:
    subnet = IPv4Network("10.9.0.0/29")
    assert _lan_gateway(subnet, set()) == IPv4Address("10.9.0.6")
    assert _lan_gateway(subnet, {IPv4Address("10.9.0.6"), IPv4Address("10.9.0.5")}) == IPv4Address("10.9.0.4")
    with pytest.raises(LabError, match="no free address"):
        _lan_gateway(subnet, {IPv4Address(f"10.9.0.{i}") for i in range(1, 7)})


def test_renames_leave_right_names_alone_and_swap_through_temporary_names() -> None:
    wanted = {"10.0.0.1": "eth0", "10.1.0.1": "eth1"}
    assert rename_steps({"10.0.0.1": "eth0", "10.1.0.1": "eth1"}, wanted) == []
    steps = rename_steps({"10.0.0.1": "eth1", "10.1.0.1": "eth0"}, wanted)
    assert steps == [("eth0", "egtmp0"), ("eth1", "egtmp1"), ("egtmp0", "eth1"), ("egtmp1", "eth0")]
    names = {"eth1": "10.0.0.1", "eth0": "10.1.0.1"}
    for old, new in steps:
        names[new] = names.pop(old)
    assert {ip: name for name, ip in names.items()} == wanted


def test_renames_fail_clearly_when_an_address_is_missing() -> None:
    with pytest.raises(LabError, match=r"no interface holds 10\.1\.0\.1"):
        rename_steps({"10.0.0.1": "eth0"}, {"10.0.0.1": "eth0", "10.1.0.1": "lan-server"})


def test_lab_ssh_is_strict_and_picks_the_user_by_node_kind(inv, tmp_path, monkeypatch) -> None:
    from lab import Lab

    monkeypatch.setenv("EGOV_LAB_DIR", str(tmp_path))
    monkeypatch.delenv("EGOV_LAB_NAME", raising=False)
    lab = Lab(inv)
    host, router = next(iter(inv.hosts.values())), next(iter(inv.routers.values()))
    argv = lab.ssh_argv(host.name, ["uptime"])
    assert argv[0] == "ssh" and argv[-2:] == [f"root@{host.mgmt_ip}", "uptime"]
    assert "StrictHostKeyChecking=yes" in argv and f"UserKnownHostsFile={tmp_path}/lab/known_hosts" in argv
    assert lab.ssh_argv(router.name, [])[-1] == f"egov@{router.mgmt_ip}"
    with pytest.raises(LabError, match="no node 'nope' in lab lab"):
        lab.ssh_argv("nope", [])


def _rsyslogd_accepts(tmp_path: Path, config: str) -> None:
    import shutil
    import subprocess

    rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    (tmp_path / "rsyslog.conf").write_text(config)
    checked = subprocess.run([rsyslogd, "-N1", "-f", str(tmp_path / "rsyslog.conf")], capture_output=True,
                             text=True, check=False, timeout=30)
    assert checked.returncode == 0, checked.stderr


def test_a_router_forwards_its_syslog_to_the_log_host_over_tls_with_its_own_certificate(inv, tmp_path: Path) -> None:
    """inventory/lab.yml leaves network__syslog_transport at its default, tls: the router's rsyslog
    forwards as a host's does, showing a certificate of the lab CA for its name and loopback, and
    SRV-09's reading of it (verify's own check) finds every forwarding TLS with the log host verified."""
    import dataclasses

    from cryptography import x509

    from egov.pki import Pki
    from lab.nodes import node_files
    from tests.support.fake_host import FakeHost, Out
    from verify.checks import CHECKS
    from verify.checks.base import Node

    plan = plan_lab(inv, "lab")
    router = plan.nodes["qn-core1"]
    issued = Pki(tmp_path / "pki").issue("router-qn-core1", ["qn-core1", "10.22.186.32"], client_auth=True)
    files = node_files(router, plan, "ssh-ed25519 AAAA test", issued)
    forward, _mode = files["/etc/rsyslog.d/10-egov-log-hosts.conf"]
    # dc-ops1 (role log) at its server LAN address (inventory/lab.yml's plan), verified by its name
    assert 'target="10.22.176.14" port="6514" protocol="tcp"' in forward, forward
    assert 'StreamDriverMode="1" StreamDriverAuthMode="x509/name"' in forward
    assert 'StreamDriverPermittedPeers="dc-ops1"' in forward and 'port="514"' not in forward
    assert files["/etc/ssl/egov/host.key"] == (issued.key_pem, 0o600)
    cert = x509.load_pem_x509_certificate(files["/etc/ssl/egov/host.crt"][0].encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "qn-core1" in sans.get_values_for_type(x509.DNSName)
    assert files["/usr/local/share/ca-certificates/egov-lab-ca.crt"][0] == issued.ca_pem
    _rsyslogd_accepts(tmp_path, forward)
    outcome = CHECKS["log_over_tls"](FakeHost(answers={"cat /etc/rsyslog.conf": Out(0, forward)}),
                                     Node(name="qn-core1", roles=[], log_targets=["10.22.176.14"]))
    assert outcome.passed, outcome.detail
    with pytest.raises(LabError, match="qn-core1: syslog over TLS needs the router's certificate"):
        node_files(router, plan, "k")

    # a router set to udp (not enrolled yet): plain UDP from its Loopback0, and no certificate
    plain = dataclasses.replace(router, syslog_tls=False)
    files = node_files(plain, plan, "k")
    forward, _mode = files["/etc/rsyslog.d/10-egov-log-hosts.conf"]
    assert ('*.* action(type="omfwd" target="10.22.176.14" port="514" protocol="udp" address="10.22.186.32")'
            in forward.splitlines()), forward
    assert "/etc/ssl/egov/host.key" not in files
    _rsyslogd_accepts(tmp_path, forward)
    assert plain.recipe("img") != router.recipe("img")  # a change of transport makes the router anew
    assert not [path for path in node_files(plan.nodes["dc-ops1"], plan, "k") if "rsyslog" in path]
