"""Made-up values of the secrets the routers' configurations hold (inventory/defaults/network.yml,
network__secrets and network__ospf_auth_keys), for unit tests and golden files. The hashes have
the shape each platform prints (IOS type 9: `$9$` + 14 salt + `$` + 43 characters; Junos
sha512-crypt `$6$salt$...`; VRP irreversible cipher `%^%#...%^%#`) but hash nothing."""

from __future__ import annotations

NETWORK_SECRETS = {
    "ospf_key_1": "golden-ospf-k1",
    "ospf_key_2": "golden-ospf-k2",
    "tacacs_key": "golden-tacacs-key",
    "snmp_auth_key": "golden-snmp-auth",
    "snmp_priv_key": "golden-snmp-priv",
    "ntp_key_seed": "golden-ntp-key-seed",
    "breakglass_hash_cisco_ios": "$9$goldensalt0123$goldenhashgoldenhashgoldenhashgoldenhash123",
    "enable_hash_cisco_ios": "$9$goldensalt4567$goldenenablegoldenenablegoldenenablegolden1",
    "breakglass_hash_huawei_vrp": "%^%#goldenBreakglassCipherText%^%#",
    "enable_hash_huawei_vrp": "%^%#goldenSuperCipherText%^%#",
    "breakglass_hash_juniper_junos": "$6$goldsalt$goldenbreakglasshash",
    "enable_hash_juniper_junos": "$6$goldsalt$goldenroothash",
}
