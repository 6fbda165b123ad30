"""The sample inventories load, agree with each other where they must, and expose the contract's API."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from inventory import load_inventory
from inventory.layers import plain
from inventory.pyinfra_bridge import pyinfra_groups
from inventory.services import CRITICAL_ROLES
from inventory.source import load_source, round_trip_yaml

ROOT = Path(__file__).parents[2]
SAMPLES = sorted((ROOT / "inventory").glob("*.yml"))
SMALL = ROOT / "tests" / "fixtures" / "inventory" / "small.yml"


def test_there_are_three_samples() -> None:
    assert {p.name for p in SAMPLES} == {"lab.yml", "lab-2level.yml", "quangninh.yml", "quangninh-2025.yml"}


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_sample_validates(path: Path) -> None:
    inv = load_inventory(path)
    assert inv.province.name == "Quảng Ninh" and inv.province.domain == "quangninh.gov.vn"
    dc = [s for s in inv.sites.values() if s.kind == "datacenter"]
    for role in CRITICAL_ROLES:
        assert sum(role in inv.hosts[h].roles for s in dc for h in s.hosts) >= 2, role
    for site in inv.sites.values():
        for net in site.subnets.values():
            assert net.subnet_of(inv.plan.supernet)


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_the_reader_reads_what_ruamel_reads(path: Path) -> None:
    """ruamel edits the inventories (``egov inventory add-site``): both must read a file alike."""
    text = path.read_text(encoding="utf-8")
    assert load_source(path, text).data == plain(round_trip_yaml().load(text))


def test_the_reader_follows_yaml_1_2_like_ruamel() -> None:
    text = "a: yes\nb: 017\nc: 0o17\nd: 1_000\ne: .5\nf: 1e3\ng: 0x1F\nh: on\ni: 12:30\nj: .\nk: ~\nl: True\n"
    data = load_source(Path("x.yml"), text).data
    assert data == plain(round_trip_yaml().load(text))
    assert data["a"] == "yes" and data["b"] == 17 and data["c"] == 15


def test_the_production_file_has_the_seed_structure() -> None:
    inv = load_inventory(ROOT / "inventory" / "quangninh.yml")
    districts = [s for s in inv.sites.values() if s.level == "district"]
    assert len(districts) == 13
    assert {"Thành phố Hạ Long", "Huyện Cô Tô", "Huyện Tiên Yên"} <= {s.title for s in districts}
    assert 180 <= len(inv.routers) <= 200
    assert {r.platform for r in inv.routers.values()} == {"frr", "cisco_ios", "huawei_vrp", "juniper_junos"}
    # the seed still says district_node / commune_point: the old names, loaded as the level-neutral kinds
    assert {s.kind for s in inv.sites.values()} == {"datacenter", "pasc", "local_node", "reception_point"}


def test_the_2025_file_has_54_commune_level_units() -> None:
    inv = load_inventory(ROOT / "inventory" / "quangninh-2025.yml")
    units = [s for s in inv.sites.values() if s.level == "commune"]
    assert [lvl.name for lvl in inv.levels] == ["province", "commune"]
    assert len(units) == 54
    titles = [s.title.split(" ")[0] for s in units]
    assert (titles.count("Phường"), titles.count("Xã"), titles.count("Đặc")) == (30, 22, 2)


def test_lab_addresses_equal_production_addresses() -> None:
    lab = load_inventory(ROOT / "inventory" / "lab.yml")
    prod = load_inventory(ROOT / "inventory" / "quangninh.yml")
    assert lab.environment == "lab" and prod.environment == "production"
    assert lab.plan.pools == prod.plan.pools
    for name, site in lab.sites.items():
        assert prod.sites[name].subnets == site.subnets, name
    for name, host in lab.hosts.items():
        assert (prod.hosts[name].mgmt_ip, prod.hosts[name].server_ip) == (host.mgmt_ip, host.server_ip), name
    for name, router in lab.routers.items():
        other = prod.routers[name]
        assert (other.loopback, other.mgmt_ip, other.lan_ips) == (router.loopback, router.mgmt_ip, router.lan_ips)
        assert {(i.port, i.ip, i.peer) for i in router.interfaces} <= {(i.port, i.ip, i.peer) for i in other.interfaces}


def test_the_two_level_lab_has_the_2025_structure_and_addresses() -> None:
    lab = load_inventory(ROOT / "inventory" / "lab-2level.yml")
    prod = load_inventory(ROOT / "inventory" / "quangninh-2025.yml")
    assert lab.environment == "lab" and [lvl.name for lvl in lab.levels] == ["province", "commune"]
    assert lab.plan.pools == prod.plan.pools
    for name, site in lab.sites.items():
        assert prod.sites[name].subnets == site.subnets, name
    for name, host in lab.hosts.items():
        if name in prod.hosts:   # the ward's node host is the lab's own
            assert (prod.hosts[name].mgmt_ip, prod.hosts[name].server_ip) == (host.mgmt_ip, host.server_ip), name
    for name, router in lab.routers.items():
        assert (prod.routers[name].loopback, prod.routers[name].mgmt_ip) == (router.loopback, router.mgmt_ip), name
    (node,) = lab.hosts_with_role("local_node")
    assert lab.sites[node.site].level == "commune" and lab.sites[node.site].kind == "local_node"
    assert {a.site for a in lab.agencies.values()} == {"dc", node.site}


def test_the_old_kind_and_role_names_are_aliases() -> None:
    """district_node / commune_point (the three-level structure's names) load as local_node / reception_point,
    everywhere a kind or role is read: the model, hosts_with_role, --limit."""
    text = (ROOT / "inventory" / "lab-2level.yml").read_text(encoding="utf-8")
    old = text.replace("kind: local_node", "kind: district_node").replace("kind: reception_point",
                                                                         "kind: commune_point")
    old = old.replace("roles: [local_node]", "roles: [district_node]")
    assert old != text
    inv = load_inventory(ROOT / "inventory" / "lab-2level.yml", text=old)
    new = load_inventory(ROOT / "inventory" / "lab-2level.yml")
    assert [(s.name, s.kind) for s in inv.sites.values()] == [(s.name, s.kind) for s in new.sites.values()]
    assert inv.hosts["qn-hong-gai-node1"].roles == ["local_node"]
    assert inv.hosts_with_role("district_node") == inv.hosts_with_role("local_node") != []
    assert inv.select(["district_node"])[0] == inv.select(["local_node"])[0]


def test_lab_shape_and_api() -> None:
    inv = load_inventory(ROOT / "inventory" / "lab.yml")
    assert [lvl.name for lvl in inv.levels] == ["province", "district", "commune"]
    assert [lvl.depth for lvl in inv.levels] == [0, 1, 2]
    assert [h.name for h in inv.hosts_with_role("db")] == ["dc-db1", "dc-db2"]
    core1 = inv.routers["qn-core1"]
    assert core1.platform == "frr" and core1.uplinks == []
    ty = inv.routers["qn-ty-r1"]
    assert ty.uplinks == ["qn-core1", "qn-core2"]
    assert [i.name for i in ty.interfaces][:2] == ["wan0", "wan1"]
    assert ty.lan_interfaces["server"].name == "lan-server"
    assert ty.lan_interfaces["user"].ip.ip == inv.sites["tien-yen"].subnets["user"][1]
    assert ty.lan_ips["server"] == ty.lan_interfaces["server"].ip
    for link in inv.links:
        assert link.subnet.prefixlen == 31
        assert {link.a.ip.ip, link.b.ip.ip} == set(link.subnet)
        assert inv.sites[inv.routers[link.a.router].site].depth > inv.sites[inv.routers[link.b.router].site].depth
        assert link.name == f"{link.a.router}:{link.a.ifname}--{link.b.router}:{link.b.ifname}"
    assert len(inv.links) == 8
    assert inv.plan.control_ip in inv.plan.pools["mgmt"]
    assert all(s.subnets["mgmt"].subnet_of(inv.plan.pools["mgmt"]) for s in inv.sites.values())
    ops = inv.hosts["dc-ops1"]
    assert IPv4Network(ops.mgmt_ip) in inv.noc_networks and inv.sites["dc"].subnets["mgmt"] in inv.noc_networks
    assert ("dc", "mgmt", inv.sites["dc"].subnets["mgmt"]) in inv.plan.rows()


def test_select_by_site_level_role_and_name() -> None:
    inv = load_inventory(ROOT / "inventory" / "lab.yml")
    hosts, routers = inv.select(["tien-yen"])
    assert [h.name for h in hosts] == ["qn-ty-node1"]
    assert [r.name for r in routers] == ["qn-ty-r1", "qn-ty-tien-yen-r1", "qn-ty-dong-ngu-r1"]
    hosts, routers = inv.select(["db", "commune"])
    assert [h.name for h in hosts] == ["dc-db1", "dc-db2"] and len(routers) == 4
    hosts, routers = inv.select(["qn-core2"])
    assert hosts == [] and [r.name for r in routers] == ["qn-core2"]
    assert len(inv.select([])[0]) == len(inv.hosts)
    with pytest.raises(Exception, match="--limit nowhere"):
        inv.select(["nowhere"])


def test_layered_variables_and_their_origin() -> None:
    inv = load_inventory(SMALL)
    db2, db1, node = inv.hosts["db2"], inv.hosts["db1"], inv.hosts["ty-node1"]
    assert db2.vars["network__ospf_hello"] == 5 and inv.origin(db2, "network__ospf_hello") == "host db2"
    assert db1.vars["network__ospf_hello"] == 2 and inv.origin(db1, "network__ospf_hello") == "province"
    assert db1.vars["base__timezone"] == "Asia/Bangkok" and inv.origin(db1, "base__timezone") == "site dc"
    assert node.cpu == 4 and inv.origin(node, "host__cpu") == "level district"
    assert inv.origin(node, "base__timezone") == "site dc"  # inherited from the parent site
    assert inv.origin(node, "host__disk_gb") == "defaults inventory/defaults/base.yml"
    assert inv.origin(inv.routers["ty-r1"], "network__interface_names.frr") == "defaults inventory/defaults/network.yml"
    assert inv.origin(inv.routers["ty-r1"], "router__platform") == "router ty-r1"
    assert inv.routers["ty-r1"].interfaces[0].name == "GigabitEthernet0/0/0"
    assert inv.origin(inv.sites["ty-dong-ngu"], "base__timezone") == "site dc"
    assert inv.origin(db1, "no__such_key") is None


def test_pyinfra_groups_by_role_site_and_level() -> None:
    inv = load_inventory(ROOT / "inventory" / "lab.yml")
    groups = pyinfra_groups(inv)
    assert [name for name, _ in groups["role_db"][0]] == ["dc-db1", "dc-db2"]
    assert {name for name, _ in groups["site_dc"][0]} == {"dc-app1", "dc-app2", "dc-db1", "dc-db2", "dc-ops1"}
    assert [name for name, _ in groups["level_district"][0]] == ["qn-ty-node1", "qn-dh-node1"]
    data = dict(groups["role_db"][0])["dc-db1"]
    assert data["ssh_hostname"] == str(inv.hosts["dc-db1"].mgmt_ip)
    assert data["ssh_strict_host_key_checking"] == "yes" and data["ssh_known_hosts_file"].endswith("known_hosts")
    assert data["egov_roles"] == ["db", "directory"] and data["egov_site"] == "dc" and data["base__timezone"]
    assert IPv4Address(data["ssh_hostname"]) in inv.plan.pools["mgmt"]
    only = pyinfra_groups(inv, [inv.hosts["dc-ops1"]])
    assert set(only) == {"role_mirror", "role_log", "role_mail", "role_monitoring", "role_bastion", "role_backup",
                         "site_dc", "level_province"}
