"""The inventory file's schema: what a YAML file may say, checked field by field.

These pydantic models only describe the file (types, required keys, no unknown keys). The
meaning (parents, addresses, the Tier 3 rule) is checked in ``inventory.rules`` once the
whole file has been read, so every problem is reported together.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import Strict as NoCoercion

PLATFORMS = ("frr", "cisco_ios", "huawei_vrp", "huawei_vrpv8", "juniper_junos")  # network.drivers.DRIVERS
# Site kinds, level-neutral: a local unit's node (a district's under three levels, a commune-level unit's under
# two) and a reception point (a commune's, or any unit's with its router only). The three-level names are
# aliases, accepted wherever a kind is read and resolved to these at load (docs/inventory.md).
KINDS = ("datacenter", "pasc", "local_node", "reception_point")
KIND_ALIASES = {"district_node": "local_node", "commune_point": "reception_point"}
# Per-site subnets a level may define; loopbacks and point-to-point links are per router.
SUBNET_PURPOSES = ("mgmt", "server", "user")
PURPOSES = ("mgmt", "loopback", "p2p", "server", "user")

# lower-case letters, digits and '-': a name becomes a container, network and DNS name
Name = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")]
Vars = dict[str, Any]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProvinceSpec(Strict):
    name: str = Field(min_length=1)
    code: str = Field(pattern=r"^[0-9]{2}$")
    domain: str = Field(pattern=r"^[a-z0-9.-]+\.[a-z]{2,}$")


class LevelSpec(Strict):
    name: Name
    max_sites: int = Field(ge=1, le=65536)
    max_routers: int = Field(default=2, ge=1, le=64)
    max_uplinks: int = Field(default=2, ge=0, le=8)
    # prefix length per site subnet purpose; a level omits the LANs it does not have
    subnets: dict[Literal["mgmt", "server", "user"], int] = Field(default_factory=dict)
    defaults: Vars = Field(default_factory=dict)


class PlanSpec(Strict):
    supernet: IPv4Network
    control_ip: IPv4Address | None = None


class HostSpec(Strict):
    name: Name
    slot: int = Field(ge=0)
    roles: list[str] = Field(min_length=1)
    cpu: int | None = Field(default=None, ge=1)
    memory_gb: int | None = Field(default=None, ge=1)
    disk_gb: int | None = Field(default=None, ge=1)
    vars: Vars = Field(default_factory=dict)


class RouterSpec(Strict):
    name: Name
    slot: int = Field(ge=0)
    platform: str | None = None
    model: str | None = None
    uplinks: list[str] = Field(default_factory=list)
    vars: Vars = Field(default_factory=dict)


class SiteSpec(Strict):
    name: Name
    title: str | None = None
    code: str | None = Field(default=None, pattern=r"^[0-9]{2,5}$")
    level: str
    kind: Literal["datacenter", "pasc", "local_node", "reception_point", "district_node", "commune_point"]
    index: int = Field(ge=0)
    parent: str | None = None
    subnets: dict[Literal["mgmt", "server", "user"], IPv4Network] = Field(default_factory=dict)
    vars: Vars = Field(default_factory=dict)
    hosts: list[HostSpec] = Field(default_factory=list)
    routers: list[RouterSpec] = Field(default_factory=list)


# one DNS label (RFC 1035 as browsers take it: letters, digits, '-' inside, at most 63)
DnsLabel = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
DnsName = Annotated[str, Field(pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", max_length=253)]


class AgencySpec(Strict):
    """One agency: a department, board or organisation of the province, a commune-level people's
    committee (a district's under three levels). Its level is its site's."""

    code: Name                       # the inventory's key for it (a-z, 0-9, '-'), never reused
    # full name with diacritics, as it signs its documents; it is written into web pages and nginx's
    # configuration as it is, so none of the characters those would have to escape
    name: str = Field(min_length=1, max_length=200, pattern=r'^[^"$\\<>{};&`\x00-\x1f\x7f]+$')
    short: DnsLabel                  # its portal's label: <short>.<province domain>
    site: str                        # the site it sits at (and reaches the platform through)
    portal: DnsName | None = None    # its portal's host name, when not <short>.<province domain>
    mail_domain: DnsName | None = None   # its own mail domain; none: the province's shared one
    confirmed: bool = True           # false: the name is not checked against an official list yet


class InventorySpec(Strict):
    environment: Literal["lab", "production"]
    province: ProvinceSpec
    plan: PlanSpec
    levels: list[LevelSpec] = Field(min_length=1)
    defaults: Vars = Field(default_factory=dict)
    # each site is checked on its own (SiteSpec), so one broken site does not hide the others' problems
    sites: list[Any] = Field(min_length=1)
    # each agency is checked on its own too (AgencySpec)
    agencies: list[Any] = Field(default_factory=list)


# --- Variables ------------------------------------------------------------------------------------
# The type and range of every variable a deploy or template reads, one entry per key documented in
# inventory/defaults/<concern>.yml (tests/unit/test_inventory_variables.py checks both ways). Checked by
# `validate` on every resolved value, where the inventory set it. Two namespaces have their checks
# elsewhere: network__* in the network schema, monitoring__* in monitoring/settings.py.
CHECKED_ELSEWHERE = ("network__", "monitoring__")
# keys with a rule of their own (inventory/rules.py: platform_problem, noc_networks), reported there
CHECKED_BY_RULES = ("router__platform", "noc__extra_networks")

Int = Annotated[int, NoCoercion()]            # 5, not "5" or true
Line = Annotated[str, Field(pattern=r"^[^\n\r]*$", max_length=1024)]  # one line of a config file
Path_ = Annotated[str, Field(pattern=r"^[^\n\r\x00]+$", max_length=1024)]
Host_ = Annotated[str, Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")]  # a DNS name or an IPv4 address
Url = Annotated[str, Field(pattern=r"^(https?://[^\s]+)?$", max_length=1024)]  # a URL or "" for none
UnixName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")]


class AdminUser(Strict):
    """An entry of base__admin_users."""

    name: UnixName
    keys_file: Path_ | None = None


VARIABLES: dict[str, Any] = {
    "host__cpu": Annotated[Int, Field(ge=1, le=1024)],
    "host__cert_file": Path_ | None,
    "host__key_file": Path_ | None,
    "host__ca_file": Path_ | None,
    "host__memory_gb": Annotated[Int, Field(ge=1, le=65536)],
    "host__disk_gb": Annotated[Int, Field(ge=1, le=1_048_576)],
    "base__timezone": Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$", max_length=64)],
    "base__admin_users": Annotated[list[AdminUser], Field(min_length=1)],
    "base__admin_group": UnixName,
    "base__packages": list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9+.-]+$")]],
    "base__login_banner": Line,
    "base__sysctl": dict[Annotated[str, Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_-]+)+$")],
                         Annotated[str, Field(pattern=r"^[A-Za-z0-9 ._-]+$")] | Int],
    "base__journal_max_use": Annotated[str, Field(pattern=r"^[1-9][0-9]{0,5}[KMGT]?$")],
    "base__ssh_allow_from": Annotated[list[IPv4Network], Field(min_length=1)] | None,
    # "tcp/PORT", "udp/PORT" or one nft match: no newline, ';' or braces that would end the rule
    "base__firewall_open": list[Annotated[str, Field(pattern=r"^[^\n\r;{}#]+$", max_length=256)]],
    "base__apt_upstream_proxy": Url | None,
    "mirror__upstream_proxy": Url | None,
    "dns__forwarders": list[IPv4Address],
    "ntp__upstream_servers": list[Host_],
    "lb__vip": IPv4Address | None,
    "lb__vrid": Annotated[Int, Field(ge=1, le=255)],
    "web__cert_file": Path_ | None,
    "web__key_file": Path_ | None,
    "web__ca_file": Path_ | None,
    "apps__listen": IPv4Address,
    "directory__rosters": Path_,
    "directory__roles": Annotated[list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")]], Field(min_length=1)],
    "directory__aliases": list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")]],
    "directory__size_limit": Annotated[Int, Field(ge=1, le=1_000_000)],
    "directory__max_size_mb": Annotated[Int, Field(ge=16, le=1_048_576)],
    "directory__cert_file": Path_ | None,
    "directory__key_file": Path_ | None,
    "directory__ca_file": Path_ | None,
    "mail__quota": Annotated[str, Field(pattern=r"^[1-9][0-9]{0,5}[KMGT]?$")],
    "mail__relay_host": Annotated[str, Field(pattern=r"^([A-Za-z0-9.-]+|\[[0-9.]+\])?(:[0-9]{1,5})?$")],
    "mail__cert_file": Path_ | None,
    "mail__key_file": Path_ | None,
    "mail__ca_file": Path_ | None,
    "log__retention_days": Annotated[Int, Field(ge=1, le=3650)],
    "backup__retention_days": Annotated[Int, Field(ge=1, le=3650)],
    "backup__on_calendar": Annotated[str, Field(pattern=r"^[A-Za-z0-9*:/,. ~-]+$", max_length=128)],
    "district_node__cache_mb": Annotated[Int, Field(ge=16, le=10_000_000)],
    "district_node__max_object_mb": Annotated[Int, Field(ge=1, le=1_000_000)],
    "router__platform": Literal["frr", "cisco_ios", "huawei_vrp", "juniper_junos"],
    "router__model": Annotated[str, Field(max_length=128)],
    "noc__extra_networks": list[IPv4Network],
}
