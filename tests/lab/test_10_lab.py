"""The lab itself: nodes reachable as production nodes are (SSH, strict host keys), routers'
CLI over SSH, addresses and links as the inventory says, nothing routed out of the machine."""

from __future__ import annotations

import json
import stat
import subprocess
import time
from typing import Any

import paramiko
import pytest
import yaml

pytestmark = pytest.mark.lab

OUTSIDE = "198.51.100.7"  # TEST-NET-2: an address no lab network holds (route lookups only, no traffic)


def _ssh(lab: Any, address: str, user: str, known_hosts: str | None = None) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts or str(lab.connection.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(address, username=user, key_filename=str(lab.connection.key_path), look_for_keys=False,
                   allow_agent=False, timeout=10)
    return client


def _router_password(lab: Any) -> str:
    return yaml.safe_load(lab.connection.secrets_file.read_text())["router_password"]


def test_state_dir_is_private(lab: Any) -> None:
    assert stat.S_IMODE(lab.state_dir.stat().st_mode) == 0o700
    for path in (lab.connection.key_path, lab.connection.known_hosts, lab.connection.secrets_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    recorded = {line.split()[0] for line in lab.connection.known_hosts.read_text().splitlines()}
    assert recorded == {str(n.mgmt_ip) for n in lab.plan.nodes.values()}
    assert len(_router_password(lab)) >= 12


def test_one_container_per_node_named_after_the_lab(lab: Any) -> None:
    status = lab.status()
    assert set(status) == set(lab.inventory.hosts) | set(lab.inventory.routers)
    assert not status.failed, status.failed_targets
    for name, result in status.items():
        assert result.data["container"] == f"{lab.name}-{name}"
        assert result.data["state"] == "running" and result.data["ssh"]


def test_hosts_answer_ssh_with_strict_host_keys_and_systemd_running(lab: Any) -> None:
    for host in lab.inventory.hosts.values():
        with _ssh(lab, str(host.mgmt_ip), "root") as client:
            _, out, _ = client.exec_command("timeout 60 systemctl is-system-running --wait; hostname")
            state, hostname = out.read().decode().split()
        assert (state, hostname) == ("running", host.name)


def test_an_unknown_host_key_is_refused(lab: Any, tmp_path: Any) -> None:
    host = next(iter(lab.inventory.hosts.values()))
    wrong = tmp_path / "known_hosts"
    other = next(iter(lab.inventory.routers.values()))
    # the router's key recorded under the host's address: the host's real key must not match it
    lines = [line for line in lab.connection.known_hosts.read_text().splitlines()
             if line.split()[0] == str(other.mgmt_ip)]
    wrong.write_text("".join(f"{host.mgmt_ip} {' '.join(line.split()[1:])}\n" for line in lines))
    with pytest.raises(paramiko.BadHostKeyException):
        _ssh(lab, str(host.mgmt_ip), "root", known_hosts=str(wrong))


def test_router_cli_over_ssh_with_netmiko(lab: Any) -> None:
    from netmiko import ConnectHandler

    password = _router_password(lab)
    for router in lab.inventory.routers.values():
        with ConnectHandler(device_type="cisco_ios", host=str(router.mgmt_ip), username=lab.connection.router_user,
                            password=password, ssh_strict=True, system_host_keys=False, alt_host_keys=True,
                            alt_key_file=str(lab.connection.known_hosts), use_keys=False) as conn:
            config = conn.send_command("show running-config")
        assert f"hostname {router.name}" in config
        assert "service integrated-vtysh-config" in config


def test_router_user_lands_in_vtysh_with_the_lab_key(lab: Any) -> None:
    router = next(iter(lab.inventory.routers.values()))
    with _ssh(lab, str(router.mgmt_ip), lab.connection.router_user) as client:
        _, out, _ = client.exec_command("show version")
        assert "FRRouting" in out.read().decode()
    rc, daemons = lab.exec(router.name, "cat /etc/frr/daemons")
    assert rc == 0 and "ospfd=yes" in daemons.split()


def _addresses(lab: Any, node: str) -> dict[str, str]:
    rc, out = lab.exec(node, "ip -o -4 addr show")
    assert rc == 0, out
    return {line.split()[3].split("/")[0]: line.split()[1] for line in out.splitlines()}


def test_addresses_and_interface_names_follow_the_inventory(lab: Any) -> None:
    for host in lab.inventory.hosts.values():
        held = _addresses(lab, host.name)
        assert held[str(host.mgmt_ip)] == "eth0"
        assert held[str(host.server_ip)] == "eth1"
    for router in lab.inventory.routers.values():
        held = _addresses(lab, router.name)
        assert str(router.mgmt_ip) in held
        for lan in router.lan_interfaces.values():
            if lab.inventory.sites[router.site].hosts and lan.purpose == "server":
                assert held[str(lan.ip.ip)] == lan.name


def test_wan_links_are_veth_pairs_without_addresses(lab: Any) -> None:
    for link in lab.inventory.links:
        for end in (link.a, link.b):
            rc, out = lab.exec(end.router, ["ip", "-j", "-d", "addr", "show", "dev", end.ifname])
            assert rc == 0, out
            info = json.loads(out)[0]
            assert info["linkinfo"]["info_kind"] == "veth"
            assert info["operstate"] == "UP" or "UP" in info["flags"]
            assert not [a for a in info.get("addr_info", []) if a["family"] == "inet"]
        # the two ends are one pair: each end's peer index is the other end's index
        _, a = lab.exec(link.a.router, ["ip", "-j", "link", "show", "dev", link.a.ifname])
        _, b = lab.exec(link.b.router, ["ip", "-j", "link", "show", "dev", link.b.ifname])
        assert json.loads(a)[0]["link_index"] == json.loads(b)[0]["ifindex"]


def test_hosts_route_the_supernet_via_their_router_and_nothing_else_out(lab: Any) -> None:
    supernet = str(lab.inventory.plan.supernet)
    for host in lab.inventory.hosts.values():
        site = lab.inventory.sites[host.site]
        gateway = lab.inventory.routers[site.routers[0]].lan_interfaces["server"].ip.ip
        rc, out = lab.exec(host.name, f"ip -o route show exact {supernet}")
        assert rc == 0 and f"via {gateway} " in out + " "
        _, out = lab.exec(host.name, "ip route show default")
        assert out.strip() == ""


def test_no_lab_address_is_routed_out_of_the_machine(lab: Any) -> None:
    names = subprocess.run(["docker", "network", "ls", "--filter", f"label=egov.lab={lab.name}", "--format",
                            "{{.Name}}"], capture_output=True, text=True, check=True).stdout.split()
    assert sorted(names) == sorted(n.name for n in lab.plan.networks)
    for name in names:
        info = json.loads(subprocess.run(["docker", "network", "inspect", name], capture_output=True, text=True,
                                         check=True).stdout)[0]
        assert info["Internal"] is True, name
    for node in lab.plan.nodes:
        rc, out = lab.exec(node, f"ip route get {OUTSIDE}")
        assert rc != 0 and "unreachable" in out, (node, out)


def test_a_host_reaches_an_address_behind_its_router(lab: Any) -> None:
    """Docker's internal bridge drops packets for addresses outside its subnet; the lab lets
    them through within one bridge, so a host can reach a remote site through its router."""
    host = next(h for h in lab.inventory.hosts.values() if h.server_ip is not None)
    router = lab.inventory.routers[lab.inventory.sites[host.site].routers[0]]
    behind = f"{router.loopback}/32"
    rc, out = lab.exec(router.name, f"ip addr add {behind} dev lo")
    assert rc == 0, out
    try:
        rc, out = lab.exec(host.name, f"ping -c 1 -W 2 {router.loopback}")
        assert rc == 0, out
    finally:
        lab.exec(router.name, f"ip addr del {behind} dev lo")


def test_apt_on_a_host_goes_through_the_lab_proxy(lab: Any) -> None:
    host = next(iter(lab.inventory.hosts))
    rc, out = lab.exec(host, "apt-config dump Acquire::http::Proxy")
    assert f"http://{lab.inventory.plan.control_ip}:3142" in out
    rc, out = lab.exec(host, "apt-get update -q", timeout=300)
    assert rc == 0 and "Err:" not in out, out


def test_a_stopped_router_comes_back_wired(lab: Any) -> None:
    link = lab.inventory.links[0]
    lab.stop_node(link.b.router)
    try:
        # the link goes with its peer (once the kernel has cleaned up the stopped node's namespace)
        deadline = time.monotonic() + 20
        while lab.exec(link.a.router, ["ip", "link", "show", "dev", link.a.ifname])[0] == 0:
            assert time.monotonic() < deadline, f"{link.a.ifname} still on {link.a.router}"
            time.sleep(0.5)
    finally:
        changes = lab.start_node(link.b.router)
    assert f"link {link.name}" in changes
    rc, _ = lab.exec(link.a.router, ["ip", "link", "show", "dev", link.a.ifname])
    assert rc == 0
    router = lab.inventory.routers[link.b.router]
    assert _addresses(lab, router.name)[str(router.mgmt_ip)] == "eth0"


def test_a_second_up_changes_nothing(lab: Any) -> None:
    report = lab.up()
    assert not report.changed, (report.changes, report.nodes.changed_targets)
    assert not report.nodes.failed
