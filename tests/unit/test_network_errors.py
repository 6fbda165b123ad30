"""netmiko's failures become NetworkError subclasses a caller can tell apart, with the text they
had: where a session is opened (``network.session.connect``) and on the open session (the drivers),
each on a fake netmiko connection that raises it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from netmiko import ConfigInvalidException, NetmikoAuthenticationException, NetmikoTimeoutException, ReadTimeout
from paramiko.ssh_exception import SSHException

from egov.connection import Connection
from egov.errors import (
    AuthenticationFailed,
    CommitFailed,
    DeviceTimeout,
    DeviceUnreachable,
    LineRefused,
    NetworkError,
    report_name,
)
from egov.parallel import run_parallel
from egov.secrets import Secrets
from inventory import load_inventory
from network.drivers.base import Armed, Driver
from network.drivers.cisco_ios import CiscoIosDriver
from network.drivers.frr import FrrDriver
from network.drivers.huawei_vrp import HuaweiVrpDriver
from network.drivers.juniper_junos import JuniperJunosDriver
from network.session import connect

REPO = Path(__file__).resolve().parents[2]
TCP_FAILED = "TCP connection to device failed.\n\nCommon causes of this problem are:"


def _raised_from(cause: BaseException, exc: Exception) -> Callable[..., Any]:
    """A netmiko class whose constructor raises ``exc`` as netmiko does: while handling ``cause``
    (so ``cause`` is its context)."""
    def login(**kwargs: Any) -> Any:
        exc.__context__ = cause
        raise exc
    return login


def _raises(exc: Exception) -> Callable[..., Any]:
    def login(**kwargs: Any) -> Any:
        raise exc
    return login


@pytest.fixture
def login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[..., Any]], Driver]:
    """Connect to the lab's qn-core1 through a fake netmiko class."""
    monkeypatch.setenv("EGOV_SECRET_ROUTER_PASSWORD", "s3cret-router-pass")
    router = load_inventory(REPO / "inventory" / "lab.yml").routers["qn-core1"]
    connection = Connection("root", tmp_path / "key", tmp_path / "known_hosts", "egov", None)

    def attempt(netmiko_class: Callable[..., Any]) -> Driver:
        monkeypatch.setattr(FrrDriver, "netmiko_class", netmiko_class)
        return connect(router, connection, Secrets(None))

    return attempt


@pytest.mark.parametrize(("netmiko_class", "expected", "text"), [
    (_raises(NetmikoAuthenticationException("Authentication to device failed.\n\nCommon causes")),
     AuthenticationFailed, "NetmikoAuthenticationException: Authentication to device failed."),
    (_raised_from(ConnectionRefusedError(111, "Connection refused"), NetmikoTimeoutException(TCP_FAILED)),
     DeviceUnreachable, "NetmikoTimeoutException: TCP connection to device failed."),
    (_raised_from(TimeoutError("timed out"), NetmikoTimeoutException(TCP_FAILED)),
     DeviceTimeout, "NetmikoTimeoutException: TCP connection to device failed."),
    (_raises(NetmikoTimeoutException("Timed out waiting for data")),
     DeviceTimeout, "NetmikoTimeoutException: Timed out waiting for data"),
    (_raises(SSHException("Server '10.22.0.1' not found in known_hosts")),
     DeviceUnreachable, "SSHException: Server '10.22.0.1' not found in known_hosts"),
    (_raises(ConnectionResetError(104, "Connection reset by peer")),
     DeviceUnreachable, "ConnectionResetError: [Errno 104] Connection reset by peer"),
    (_raises(ValueError("Router prompt not found: 'login:'")),
     DeviceUnreachable, "ValueError: Router prompt not found: 'login:'"),
])
def test_a_failed_login_says_which_failure_it_is(login: Callable[[Callable[..., Any]], Driver],
                                                 netmiko_class: Callable[..., Any], expected: type[NetworkError],
                                                 text: str) -> None:
    with pytest.raises(expected) as caught:
        login(netmiko_class)
    assert str(caught.value).startswith("qn-core1 (") and str(caught.value).endswith(f"cannot connect: {text}")
    assert report_name(caught.value) == "NetworkError"


def test_a_prompt_that_never_comes_is_a_timeout_with_netmiko_text(
        login: Callable[[Callable[..., Any]], Driver]) -> None:
    with pytest.raises(DeviceTimeout) as caught:
        login(_raises(ReadTimeout("Pattern not detected: '[>#]' in output.")))
    assert str(caught.value) == "Pattern not detected: '[>#]' in output."
    assert report_name(caught.value) == "ReadTimeout"


class FakeConnection:
    """A netmiko connection whose calls answer, or raise what ``fail`` holds for them."""

    def __init__(self, **fail: Exception) -> None:
        self.fail = fail
        self.calls: list[tuple[str, Any]] = []
        self.config = False  # in configuration mode

    def _call(self, name: str, arg: Any = None) -> str:
        self.calls.append((name, arg))
        if name in self.fail:
            raise self.fail.pop(name)
        return ""

    def find_prompt(self) -> str:
        return "r1#"

    def send_command(self, command: str, **kwargs: Any) -> str:
        self.config = self.config or command == "configure exclusive"
        return self._call("send_command", command)

    def send_config_set(self, lines: list[str], **kwargs: Any) -> str:
        return self._call("send_config_set", list(lines))

    def exit_config_mode(self) -> str:
        self.config = False
        return self._call("exit_config_mode")

    def check_config_mode(self) -> bool:
        return self.config

    def save_config(self, **kwargs: Any) -> str:
        return self._call("save_config")

    def commit(self, **kwargs: Any) -> str:
        return self._call("commit", kwargs)


def _driver(cls: type[Driver], **fail: Exception) -> tuple[Driver, FakeConnection]:
    conn = FakeConnection(**fail)
    return cls(conn), conn  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [FrrDriver, CiscoIosDriver, HuaweiVrpDriver])
def test_a_refused_line_leaves_configuration_mode(cls: type[Driver]) -> None:
    driver, conn = _driver(cls, send_config_set=ConfigInvalidException("Invalid input detected: % Unknown command"))
    with pytest.raises(LineRefused, match=r"^the device refused a line: Invalid input detected: % Unknown command$"):
        driver.apply(["interface wan0"])
    assert conn.calls[-1] == ("exit_config_mode", None)


def test_junos_refusals_roll_the_candidate_back() -> None:
    driver, conn = _driver(JuniperJunosDriver, send_config_set=ConfigInvalidException("syntax error"))
    with pytest.raises(LineRefused, match=r"^the device refused the change: syntax error$"):
        driver.apply(["set interfaces ge-0/0/0 bogus"])
    assert conn.calls[-1] == ("send_config_set", ["rollback 0"])
    # "commit check" that does not print "configuration check succeeds"
    driver, conn = _driver(JuniperJunosDriver)
    with pytest.raises(CommitFailed, match=r"^'commit check' failed"):
        driver.apply(["set system host-name r1"])
    assert conn.calls[-1] == ("send_config_set", ["rollback 0"])


def test_junos_confirming_commit_refused() -> None:
    driver, _ = _driver(JuniperJunosDriver, send_command=ReadTimeout("Pattern not detected: 'egovadmin@r1#'"))
    driver.armed = Armed(60)
    with pytest.raises(DeviceTimeout) as caught:
        driver.confirm()  # the pending check ("show system commit") stopped answering
    assert report_name(caught.value) == "ReadTimeout"


@pytest.mark.parametrize(("action", "exc", "expected"), [
    ("read", ReadTimeout("Pattern not detected: 'r1#' in output."), DeviceTimeout),
    ("read", NetmikoTimeoutException("Timeout exceeded!"), DeviceTimeout),
    ("read", OSError("Socket is closed"), DeviceUnreachable),
    ("read", EOFError(), DeviceUnreachable),
    ("read", SSHException("SSH session not active"), DeviceUnreachable),
    ("send", ReadTimeout("Pattern not detected: 'r1\\(config\\)#' in output."), DeviceTimeout),
    ("save", ReadTimeout("Pattern not detected: 'r1#' in output."), DeviceTimeout),
])
@pytest.mark.parametrize("cls", [FrrDriver, CiscoIosDriver, HuaweiVrpDriver, JuniperJunosDriver])
def test_a_session_that_stops_answering_is_told_apart(cls: type[Driver], action: str, exc: Exception,
                                                      expected: type[NetworkError]) -> None:
    # the netmiko call each action makes (Junos commits in apply: its save leaves configuration mode)
    calls = {"read": ["send_command"], "send": ["send_config_set"],
             "save": ["save_config", "exit_config_mode"]}[action]
    driver, _ = _driver(cls, **dict.fromkeys(calls, exc))
    run = {"read": driver.running, "send": lambda: driver.apply(["hostname r1"]), "save": driver.confirm}[action]
    with pytest.raises(expected) as caught:
        run()
    assert str(caught.value) == str(exc) and report_name(caught.value) == type(exc).__name__


def test_reports_keep_naming_the_layer() -> None:
    """A run's report reads as before the subclasses: NetworkError, or netmiko's name for its own text."""
    def work(name: str) -> Any:
        raise {"a": DeviceUnreachable("a (10.0.0.1): cannot connect: x"),
               "b": DeviceTimeout("Pattern not detected", report_name="ReadTimeout")}[name]

    result = run_parallel(work, ["a", "b"])
    assert result["a"].error == "NetworkError: a (10.0.0.1): cannot connect: x"
    assert result["b"].error == "ReadTimeout: Pattern not detected"
