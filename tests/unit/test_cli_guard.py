"""The CLI's last guard: an exception no check foresaw is one line naming the command and its input, with the
traceback in a 0600 log file under -vv; a usage error is one line; every exit code is documented."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

import cli
import inventory.views
from egov.secrets import MASK, remember

SMALL = Path(__file__).parents[1] / "fixtures" / "inventory" / "small.yml"


def _boom(*args: object, **kwargs: object) -> object:
    raise RuntimeError("the view broke on s3cr3t-value")


@pytest.fixture
def broken_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inventory.views, "show", _boom)
    remember("s3cr3t-value")


def test_an_unexpected_error_is_one_line_naming_the_command_and_input(broken_show: None,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.run(["inventory", "show", "-i", str(SMALL)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: egov inventory show (inventory {SMALL}): internal error RuntimeError: ")
    assert "rerun with -vv" in err
    assert "s3cr3t-value" not in err and MASK in err


def test_with_vv_the_traceback_goes_to_a_private_log_file(broken_show: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.run(["-vv", "inventory", "show", "-i", str(SMALL)])
    err = capsys.readouterr().err
    match = re.search(r"the traceback is in (\S+\.log)$", err.strip())
    assert code == 1 and match, err
    log = Path(match.group(1))
    try:
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        text = log.read_text(encoding="utf-8")
        assert "Traceback (most recent call last)" in text and "_boom" in text
        assert "s3cr3t-value" not in text
    finally:
        log.unlink()


def test_a_usage_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["inventory", "validate", "--nope"]) == 2
    err = capsys.readouterr().err
    assert err == "error: egov inventory validate: No such option '--nope'. (see egov inventory validate --help)\n"


def test_an_os_error_names_the_path_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a folder whose parent exists and is writable passes the early check; /proc refuses the mkdir itself
    code = cli.run(["net", "render", "-i", str(SMALL), "--out", "/proc/egov-no-such/dir"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "/proc/egov-no-such" in err and "Traceback" not in err


def test_the_exit_codes_are_in_the_root_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["--help"]) == 0
    out = capsys.readouterr().out
    for code, words in (("0", "done"), ("1", "failed on a target"), ("2", "bad input or usage")):
        assert re.search(rf"^\s+{code}\s+.*{words}", out, re.M), out
