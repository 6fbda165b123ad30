"""The inventory file's schema: what a YAML file may say, checked field by field.

These pydantic models only describe the file (types, required keys, no unknown keys). The
meaning (parents, addresses, the Tier 3 rule) is checked in ``inventory.rules`` once the
whole file has been read, so every problem is reported together.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PLATFORMS = ("frr", "cisco_ios", "huawei_vrp", "huawei_vrpv8", "juniper_junos")  # network.drivers.DRIVERS
KINDS = ("datacenter", "pasc", "district_node", "commune_point")
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
    kind: Literal["datacenter", "pasc", "district_node", "commune_point"]
    index: int = Field(ge=0)
    parent: str | None = None
    subnets: dict[Literal["mgmt", "server", "user"], IPv4Network] = Field(default_factory=dict)
    vars: Vars = Field(default_factory=dict)
    hosts: list[HostSpec] = Field(default_factory=list)
    routers: list[RouterSpec] = Field(default_factory=list)


class InventorySpec(Strict):
    environment: Literal["lab", "production"]
    province: ProvinceSpec
    plan: PlanSpec
    levels: list[LevelSpec] = Field(min_length=1)
    defaults: Vars = Field(default_factory=dict)
    # each site is checked on its own (SiteSpec), so one broken site does not hide the others' problems
    sites: list[Any] = Field(min_length=1)
