"""Each platform's OSPF neighbour table, as the device prints it, read into router id -> state."""

from __future__ import annotations

import re
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


# ---- sessions as the devices answer them (netmiko's own code over a fake channel) --------------

from netmiko.cisco.cisco_ios import CiscoIosSSH  # noqa: E402
from netmiko.huawei.huawei import HuaweiSSH, HuaweiVrpv8SSH  # noqa: E402
from netmiko.juniper.juniper import JuniperSSH  # noqa: E402

from egov.errors import CommitFailed, LineRefused, UnexpectedOutput  # noqa: E402
from network.drivers.huawei_vrp import HuaweiVrpV8Driver  # noqa: E402
from tests.support import fake_cli  # noqa: E402
from tests.support.day0 import fixture  # noqa: E402


def _ios(**kwargs: Any) -> tuple[CiscoIosDriver, fake_cli.FakeCli]:
    cli = fake_cli.ios(fixture("cisco_ios"), **kwargs)
    return CiscoIosDriver(fake_cli.connection(CiscoIosSSH, cli, "r1")), cli


def test_ios_running_is_read_in_privileged_exec() -> None:
    driver, _ = _ios()
    assert "hostname d-ios-r1" in driver.running()


def test_ios_user_exec_is_no_configuration() -> None:
    """A login that lands in user EXEC ("r1>") gets "% Invalid input" for show running-config: refused,
    never taken for an empty configuration (whose remediation would re-send everything)."""
    driver, _ = _ios(privileged=False)
    with pytest.raises(UnexpectedOutput, match=r"not privileged \(prompt 'r1>'\)"):
        driver.running()


def test_an_error_message_is_no_configuration() -> None:
    cli = fake_cli.ios("% Authorization failed.\n")
    driver = CiscoIosDriver(fake_cli.connection(CiscoIosSSH, cli, "r1"))
    with pytest.raises(UnexpectedOutput, match=re.escape("did not print a configuration: '% Authorization failed.'")):
        driver.running()


@pytest.mark.parametrize(("line", "message"), [
    ("bogus x", "% Invalid input detected at '^' marker."),
    ("ip address 10.0.0.1", "% Incomplete command."),
    ("ip address 10.0.0.1 255.255.255.255 secondary", "% Bad mask /32 for address 10.0.0.1"),
    ("sh", '% Ambiguous command:  "sh"'),
    ("copy running-config tftp://192.0.2.9/x", "%Error opening tftp://192.0.2.9/x (Timed out)"),
])
def test_ios_refusals_stop_the_push(line: str, message: str) -> None:
    driver, cli = _ios()
    with pytest.raises(LineRefused) as caught:
        driver.apply(["interface GigabitEthernet0/0/0", line, "description never sent", "exit"])
    assert message in str(caught.value)
    assert "description never sent" not in cli.received and cli.received[-1] == "end"


def test_ios_confirmation_is_answered_and_the_push_goes_on() -> None:
    """IOS XE asks "[confirm]" before removing a user: the driver answers it, the next line is no answer."""
    driver, cli = _ios()
    driver.apply(["no username olduser", "ntp server 10.22.176.10"])
    assert cli.answered == [("no username olduser", "")]  # Enter confirms
    assert "ntp server 10.22.176.10" in cli.received and cli.received[-1] == "end"


BANNER = "banner login ^\nAuthorised access only\n# monitored #\n^"  # one remediation line, as rendered


def test_ios_banner_goes_in_one_write_and_the_push_goes_on() -> None:
    """Inside a banner IOS prints "Enter TEXT message.  End with the character '^'." and no prompt until
    the delimiter: the banner is typed whole, the lines after it are checked line by line as before."""
    import time

    driver, cli = _ios()
    started = time.monotonic()
    driver.apply(["ip ssh authentication-retries 3", BANNER, "line vty 0 15", "exec-timeout 10 0", "exit"])
    assert time.monotonic() - started < 10  # netmiko's per-line echo and prompt wait would sit out 30 s
    assert cli.texts == [["Authorised access only", "# monitored #"]]
    assert cli.received[-4:] == ["line vty 0 15", "exec-timeout 10 0", "exit", "end"] and cli.mode == "exec"


def test_ios_refusal_after_a_banner_stops_the_push() -> None:
    driver, cli = _ios()
    with pytest.raises(LineRefused, match="Invalid input"):
        driver.apply([BANNER, "bogus x", "description never sent"])
    assert cli.texts == [["Authorised access only", "# monitored #"]]
    assert "description never sent" not in cli.received and cli.received[-1] == "end"


def test_a_line_without_a_safe_answer_is_never_sent() -> None:
    driver, cli = _ios()
    with pytest.raises(LineRefused, match="crypto key generate rsa modulus 2048"):
        driver.apply(["ntp server 10.22.176.10", "crypto key generate rsa modulus 2048"])
    assert cli.received == []


def test_ios_save_is_checked() -> None:
    driver, _ = _ios()
    driver.confirm()  # "[OK]"
    driver, _ = _ios(replies=[(r"^write mem", "Building configuration...\n% Not enough space on device")])
    with pytest.raises(UnexpectedOutput, match="did not confirm the save"):
        driver.confirm()


def _vrp(v8: bool = False, **kwargs: Any) -> tuple[HuaweiVrpDriver, fake_cli.FakeCli]:
    cli = fake_cli.vrp(fixture("huawei_vrp"), v8=v8, **kwargs)
    cls = HuaweiVrpV8Driver if v8 else HuaweiVrpDriver
    return cls(fake_cli.connection(HuaweiVrpv8SSH if v8 else HuaweiSSH, cli, "r1")), cli


def test_vrp_refusal_and_save() -> None:
    driver, cli = _vrp()
    assert "sysname d-vrp-r1" in driver.running()
    with pytest.raises(LineRefused, match=re.escape("Error: Unrecognized command found at '^' position.")):
        driver.apply(["interface GigabitEthernet0/0/0", "bogus", "quit"])
    assert cli.received[-1] == "return"
    driver.confirm()  # "[Y/N]" answered y, "successfully"
    assert cli.answered == [("save", "y")]


def test_vrp_save_not_done_is_reported() -> None:
    driver, _ = _vrp(save="Error: The storage is full.")
    with pytest.raises(UnexpectedOutput, match="did not confirm the save"):
        driver.confirm()


def test_vrp_v8_commits_and_discards_what_it_refuses() -> None:
    driver, cli = _vrp(v8=True)
    driver.apply(["ntp-service unicast-server 10.22.176.10"])  # no trial armed: a plain commit
    assert cli.received[-2:] == ["ntp-service unicast-server 10.22.176.10", "commit"]
    driver, cli = _vrp(v8=True, replies=[(r"^commit$", "Error: The configuration of the interface conflicts.")])
    with pytest.raises(CommitFailed, match="conflicts"):
        driver.apply(["ntp-service unicast-server 10.22.176.10"])
    assert "clear configuration candidate" in cli.received and cli.received[-1] == "return"


def _junos(**kwargs: Any) -> tuple[JuniperJunosDriver, fake_cli.FakeCli]:
    cli = fake_cli.junos(fixture("juniper_junos"), **kwargs)
    return JuniperJunosDriver(fake_cli.connection(JuniperSSH, cli, "egovadmin@r1")), cli


@pytest.mark.parametrize(("line", "message"), [
    ("set bogus", "syntax error."),
    ("set interfaces ge-0/0/0 unit 0 family inet address 300.0.0.1/31", "error: invalid value"),
])
def test_junos_refusal_rolls_the_candidate_back(line: str, message: str) -> None:
    driver, cli = _junos()
    with pytest.raises(LineRefused, match=re.escape(message)):
        driver.apply([line])
    assert "rollback 0" in cli.received


@pytest.mark.parametrize(("cls", "text", "refused"), [
    (CiscoIosDriver, "% Invalid input detected at '^' marker.", True),
    (CiscoIosDriver, "% Incomplete command.", True),
    (CiscoIosDriver, "%Error opening bootflash:x (No such file or directory)", True),
    (CiscoIosDriver, "% Bad IP address or host name", True),
    (CiscoIosDriver, "Enter configuration commands, one per line.  End with CNTL/Z.", False),
    (CiscoIosDriver, "%SYS-5-CONFIG_I: Configured from console by egovadmin on vty0", False),
    (HuaweiVrpDriver, "Error: Wrong parameter found at '^' position.", True),
    (HuaweiVrpDriver, "Warning: The OSPF process will be reset. Continue? [Y/N]:", False),
    (HuaweiVrpDriver, "Info: The configuration takes effect.", False),
    (JuniperJunosDriver, "  missing mandatory statement: 'interface'", True),
    (JuniperJunosDriver, "error: configuration check-out failed", True),
    (JuniperJunosDriver, "unknown command.", True),
    (JuniperJunosDriver, "warning: statement has no contents; ignored", False),
    (JuniperJunosDriver, "[edit protocols ospf]", False),
])
def test_error_patterns_as_devices_print_them(cls: type[Driver], text: str, refused: bool) -> None:
    assert bool(re.search(cls.error_pattern, text, re.MULTILINE)) == refused



def _frr_cli(save: str) -> fake_cli.FakeCli:
    """FRR 8.4's vtysh (``r1#``) answering ``write memory`` as the lab's routers print it."""
    return fake_cli.FakeCli({"exec": "r1#", "config": "r1(config)#"}, {"configure terminal": ("config", "")},
                            {"end"}, [(r"^terminal ", ""), (r"^write memory$", save)])


def test_frr_save_is_checked_against_watchfrrs_answer() -> None:
    from network.drivers.frr import FrrDriver, FrrVtyshSSH

    saved = ("Note: this version of vtysh never writes vtysh.conf\nBuilding Configuration...\n"
             "Integrated configuration saved to /etc/frr/frr.conf\n[OK]")
    FrrDriver(fake_cli.connection(FrrVtyshSSH, _frr_cli(saved), "r1")).confirm()
    # a write interrupted earlier leaves watchfrr refusing the next one (seen in the 198-router lab)
    busy = "Note: this version of vtysh never writes vtysh.conf\n% Configuration write already in progress."
    with pytest.raises(UnexpectedOutput, match=r"did not confirm the save.*already in progress"):
        FrrDriver(fake_cli.connection(FrrVtyshSSH, _frr_cli(busy), "r1")).confirm()
