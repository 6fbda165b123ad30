"""The dispatcher: platform name (the inventory's ``platform``) -> driver class, in ONE dict.

Every quirk of a platform lives in its module (``frr``, ``cisco_ios``, ``huawei_vrp`` (V5 and V8),
``juniper_junos``); what they share is ``base.Driver``. A driver's ``syntax`` names the configuration
language it speaks (its templates and its managed scope): VRP V8 speaks VRP's.
"""

from __future__ import annotations

from egov.errors import NetworkError
from network.drivers.base import Driver
from network.drivers.cisco_ios import CiscoIosDriver
from network.drivers.frr import FrrDriver
from network.drivers.huawei_vrp import HuaweiVrpDriver, HuaweiVrpV8Driver
from network.drivers.juniper_junos import JuniperJunosDriver

DRIVERS: dict[str, type[Driver]] = {
    cls.platform: cls for cls in (FrrDriver, CiscoIosDriver, HuaweiVrpDriver, HuaweiVrpV8Driver, JuniperJunosDriver)
}


def driver_class(platform: str) -> type[Driver]:
    try:
        return DRIVERS[platform]
    except KeyError:
        raise NetworkError(f"no driver for platform '{platform}' (known: {', '.join(sorted(DRIVERS))})") from None
