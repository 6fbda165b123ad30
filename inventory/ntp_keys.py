"""The symmetric keys that authenticate the routers' time from the data centre's time servers.

Hosts take their time over NTS (RFC 8915) with the platform CA's certificates. IOS XE and VRP do
not speak NTS, and Junos would need a CA the toolkit does not enrol on it, so each vendor router
authenticates every NTP packet with a MAC (RFC 5905) under a key of its own. The key is derived
from one secret (the ``ntp`` entry of ``network__credential_names``) and the router's name: a
router holds its own key only, so it cannot pass for a time server to another router. The time
servers' chrony holds every vendor router's key and signs its answer to a signed request with
the key the request named.

The MAC of each platform is one that both it and chrony compute (``MACS``): IOS XE's
``cmac-aes-128`` is chrony's ``AES128`` (AES-CMAC, RFC 8573); Junos's ``sha256`` and VRP's
``md5`` are chrony's ``SHA256`` and ``MD5`` (the digest of key and packet, as ntpd computes
it). VRP's other choice, ``hmac-sha256``, is an HMAC, which chrony does not compute. FRR routers
are Linux hosts: not here.

A key is 16 characters of letters and digits: AES-128 takes a key of exactly 16 bytes, and every
platform takes such a key as it is typed. The key id is the router's place in the loopback pool,
plus one: unique per router, fixed while its loopback is, and within 1-65534, the range ntpd-based
NTP (Junos) accepts.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import TYPE_CHECKING

from egov.errors import InputError
from egov.secrets import remember

if TYPE_CHECKING:
    from inventory.model import Inventory, Router

# platform -> (the router's name of the MAC, chrony's)
MACS: dict[str, tuple[str, str]] = {
    "cisco_ios": ("cmac-aes-128", "AES128"),
    "juniper_junos": ("sha256", "SHA256"),
    "huawei_vrp": ("md5", "MD5"),
    "huawei_vrpv8": ("md5", "MD5"),  # VRP V8 (NetEngine) speaks VRP's configuration language
}
KEY_LENGTH = 16
SEED_MIN_LENGTH = 16  # the seed is the routers' keys' only secret: no shorter than one of them
KEY_ID_MAX = 65534
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class RouterKey:
    """One router's NTP key: its id, its value, the MAC as the router and as chrony name it."""

    id: int
    key: str
    router_mac: str
    chrony_mac: str


def seed_name(router: Router) -> str:
    """The name, in the secrets store, of the secret the router's key derives from."""
    return str(router.vars["network__credential_names"]["ntp"])


def seed_names(inv: Inventory) -> list[str]:
    """The seeds of the inventory's vendor routers (what the time servers' deploy reads)."""
    return sorted({seed_name(r) for r in inv.routers.values() if r.platform in MACS})


def key_id(router: Router, loopbacks: IPv4Network) -> int:
    """The router's key id: its loopback's place in the loopback pool, plus one."""
    number = int(router.loopback) - int(loopbacks.network_address) + 1
    if not 1 <= number <= KEY_ID_MAX:
        raise InputError(f"router {router.name}: loopback {router.loopback} is not in the loopback pool {loopbacks} "
                         f"within {KEY_ID_MAX} addresses of its start: no NTP key id for it")
    return number


def derive(seed: str, router_name: str) -> str:
    """The router's key: HMAC-SHA256 of its name under ``seed``, as ``KEY_LENGTH`` letters and
    digits; remembered as a secret, so every output redacts it as it does the seed."""
    number = int.from_bytes(hmac.new(seed.encode(), f"ntp:{router_name}".encode(), hashlib.sha256).digest(), "big")
    chars = []
    for _ in range(KEY_LENGTH):
        number, index = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[index])
    key = "".join(chars)
    remember(key)
    return key


def router_key(router: Router, loopbacks: IPv4Network, seed: str) -> RouterKey | None:
    """The NTP key of a vendor router; None for a platform that takes its time otherwise (FRR)."""
    macs = MACS.get(router.platform)
    if macs is None:
        return None
    return RouterKey(key_id(router, loopbacks), derive(seed, router.name), *macs)
