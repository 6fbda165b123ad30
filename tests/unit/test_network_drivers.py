"""Each platform's OSPF neighbour table, as the device prints it, read into router id -> state."""

from __future__ import annotations

from typing import Any

import pytest

from network.drivers.base import Driver
from network.drivers.cisco_ios import CiscoIosDriver
from network.drivers.huawei_vrp import HuaweiVrpDriver
from network.drivers.juniper_junos import JuniperJunosDriver

CISCO = """
Neighbor ID     Pri   State           Dead Time   Address         Interface
10.22.0.2         0   FULL/  -        00:00:33    10.22.255.1     GigabitEthernet0/1
10.22.0.3         0   INIT/  -        00:00:39    10.22.255.3     GigabitEthernet0/2
"""
HUAWEI = """
          OSPF Process 1 with Router ID 10.22.0.1
                  Peer Statistic Information
 ----------------------------------------------------------------------------
 Area Id          Interface                        Neighbor id      State
 0.0.0.0          GigabitEthernet0/0/1             10.22.0.2        Full
 0.0.0.0          GigabitEthernet0/0/2             10.22.0.3        ExStart
 ----------------------------------------------------------------------------
"""
JUNOS = """
Address          Interface              State     ID               Pri  Dead
10.22.255.1      ge-0/0/0.0             Full      10.22.0.2        128    36
10.22.255.3      ge-0/0/1.0             Init      10.22.0.3        128    39
"""


class TableConnection:
    """A session answering every show command with one table."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.commands: list[str] = []

    def send_command(self, command: str, **kwargs: Any) -> str:
        self.commands.append(command)
        return self.table


@pytest.mark.parametrize(("cls", "table", "second"), [
    (CiscoIosDriver, CISCO, "init"), (HuaweiVrpDriver, HUAWEI, "exstart"), (JuniperJunosDriver, JUNOS, "init"),
])
def test_neighbour_table(cls: type[Driver], table: str, second: str) -> None:
    conn = TableConnection(table)
    assert cls(conn).neighbours() == {"10.22.0.2": "full", "10.22.0.3": second}  # type: ignore[arg-type]
    assert conn.commands == [cls.neighbour_command]
