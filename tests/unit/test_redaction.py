"""No secret leaves by any output channel, in any encoding.

Each channel (terminal tables and errors, logs with tracebacks, --json, deploy and net diffs,
JUnit, HTML, exception messages) is run with secrets full of ``" \\ & < > '``, a line break and
non-ASCII, written into its input raw and pre-encoded; the output is searched for every encoding
of every secret, each computed by the outside library that defines it (json, xml.etree,
html, markupsafe, urllib.parse, base64, shlex), never by egov.secrets itself.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import shlex
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import markupsafe
import pytest
from click.testing import CliRunner

from egov.errors import DeployError, LabError
from egov.results import Result, RunResult
from egov.secrets import MASK, RedactingFilter, Secrets, redact

SECRETS = {
    "hostile_password": 'Pw"q\\&<>\'x\n東京-ünï-9f3Kq',
    "api_token": "T0k&en<'\"\\>ưởng-zz81",
    "dsn_password": "u:p@ss/w%rd&x=1 é",
}


def _attribute_form(value: str) -> str:
    """How xml.etree writes ``value`` as an attribute (quotes and line breaks as references)."""
    text = ET.tostring(ET.Element("e", a=value), encoding="unicode")
    return text[len('<e a="'):-len('" />')]


def encodings(value: str) -> dict[str, str]:
    """Every written form of ``value``, by the library that writes it."""
    forms = {
        "raw": value,
        "json": json.dumps(value)[1:-1],
        "json-unicode": json.dumps(value, ensure_ascii=False)[1:-1],
        "repr": repr(value)[1:-1],
        "xml-text": _text_form(value),
        "xml-attribute": _attribute_form(value),
        "html": html.escape(value),
        "markupsafe": str(markupsafe.escape(value)),
        "url": urllib.parse.quote(value, safe=""),
        "url-path": urllib.parse.quote(value),
        "url-form": urllib.parse.quote_plus(value),
        "shell": shlex.quote(value),
        "shell-inner": shlex.quote("x" + value)[2:-1],
        "base64": base64.b64encode(value.encode()).decode(),
        # basic auth: the secret after "user:", so its bytes sit at another offset in the encoding
        "base64-basic-auth": base64.b64encode(f"egov:{value}".encode()).decode(),
        "json-of-shell": json.dumps(shlex.quote(value))[1:-1],
        "html-of-json": html.escape(json.dumps(value)),
    }
    return forms


def _text_form(value: str) -> str:
    element = ET.Element("e")
    element.text = value
    return ET.tostring(element, encoding="unicode")[len("<e>"):-len("</e>")]


def _evidence(value: str) -> dict[str, str]:
    """What betrays each form: the whole form, but for base64 the characters made of the
    secret's bytes alone (basic auth's ``egov:`` prefix and the padded tail are no secret)."""
    forms = encodings(value)
    forms["base64"] = forms["base64"][:-4]
    forms["base64-basic-auth"] = forms["base64-basic-auth"][8:-4]
    return forms


def leaks(text: str) -> list[str]:
    """Which encodings of which secret ``text`` holds."""
    return [f"{name}: {kind}" for name, value in SECRETS.items() for kind, form in _evidence(value).items()
            if len(form) >= 4 and form in text]


@pytest.fixture(autouse=True)
def known(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(f"EGOV_SECRET_{name.upper()}", value)
    Secrets(None)
    yield


def loaded(value: str) -> str:
    """Text that carries ``value`` in all its forms: what a channel may be handed."""
    return " | ".join(encodings(value).values())


ALL = " // ".join(loaded(v) for v in SECRETS.values())


def test_the_oracle_sees_every_secret() -> None:
    """Unredacted, every form is found: the checks below can fail."""
    assert len(leaks(ALL)) == len([1 for v in SECRETS.values() for f in _evidence(v).values() if len(f) >= 4])
    assert leaks(redact(ALL)) == []
    assert MASK in redact(ALL)


def test_terminal_table_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main
    from commands.common import table

    table("t", ["a", "b"], [[ALL, SECRETS["api_token"]]])

    @main.command("leak-test")
    def leak() -> None:
        raise LabError(f"cannot log in with {SECRETS['hostile_password']!r}: {ALL}")

    try:
        result = CliRunner().invoke(main, ["leak-test"])
    finally:
        main.commands.pop("leak-test")
    out = capsys.readouterr()
    assert result.exit_code == 1 and "error:" in result.output
    assert leaks(out.out + out.err + result.output) == []


def test_logs_with_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("egov.test.redaction")
    log.addHandler(handler)
    try:
        log.warning("connecting with %s and %r", SECRETS["dsn_password"], SECRETS["hostile_password"])
        try:
            raise RuntimeError(f"psql: password {SECRETS['api_token']!r} refused: {ALL}")
        except RuntimeError:
            log.exception("deploy failed")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "Traceback" in text and "RuntimeError" in text
    assert leaks(text) == []


def test_the_cli_log_handlers_redact() -> None:
    from commands.common import setup_logging

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    stream = io.StringIO()
    try:
        setup_logging(2)
        for handler in root.handlers:
            handler.setStream(stream)  # type: ignore[attr-defined]
        logging.getLogger("egov.test").info("dsn %s", loaded(SECRETS["dsn_password"]))
    finally:
        root.handlers = saved
    assert "dsn" in stream.getvalue() and leaks(stream.getvalue()) == []


def test_the_deploy_child_log_filter_is_the_redacting_one() -> None:
    import deploys.pyinfra_process as child

    assert child.RedactingFilter is RedactingFilter


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    from commands.common import emit_json

    class Odd:
        def __str__(self) -> str:
            return f"odd {SECRETS['hostile_password']}"

    emit_json({"error": ALL, SECRETS["api_token"]: [SECRETS["dsn_password"], ("t", SECRETS["hostile_password"])],
               "obj": Odd(), "n": 3})
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["n"] == 3 and MASK in data["obj"]
    assert leaks(out) == [] and leaks(json.dumps(data, ensure_ascii=False)) == []


def test_deploy_and_net_diffs() -> None:
    from network.push import _Device

    diff_lines = [f"+dsn = password='{SECRETS['dsn_password']}'", f"+{loaded(SECRETS['hostile_password'])}",
                  *(f"-{line}" for line in SECRETS["hostile_password"].splitlines())]
    device = _Device(router=SimpleNamespace(name="r1"), intended="", lines=diff_lines)  # type: ignore[arg-type]
    net = device.result("changed", changed=True)
    assert net.diff.count(MASK) >= 3 and leaks(net.diff) == []
    # the deploy runner's stage keeps pyinfra's captured diff lines the same way
    from deploys import pyinfra_stage

    assert pyinfra_stage.redact is redact
    assert leaks(redact("\n".join(diff_lines))) == []


def _run_result() -> RunResult:
    controls: list[dict[str, Any]] = [
        {"id": "S-1", "title": f"title {SECRETS['api_token']}", "group": "server", "severity": "required",
         "passed": False, "detail": ALL, "seconds": 0.1},
        {"id": "S-2", "title": "ok", "group": "server", "severity": "recommended", "passed": True,
         "detail": SECRETS["hostile_password"], "seconds": 0.1},
    ]
    result = RunResult()
    result["dc-web1"] = Result(target="dc-web1", failed=True, data={"controls": controls, "seconds": 1})
    result["dc-db1"] = Result(target="dc-db1", failed=True, error=f"unreachable: {ALL}", data={})
    return result


def test_junit_and_html_reports(tmp_path: Path) -> None:
    from verify.catalogue import load_catalogue
    from verify.report import write_html, write_junit

    write_junit(_run_result(), tmp_path / "r.xml")
    write_html(_run_result(), load_catalogue(), tmp_path / "r.html", title=f"verify {SECRETS['api_token']}")
    xml_text = (tmp_path / "r.xml").read_text()
    html_text = (tmp_path / "r.html").read_text()
    assert leaks(xml_text) == [] and leaks(html_text) == []
    # and once parsed back (entities resolved), no secret either: the values were redacted before encoding
    parsed = ET.fromstring(xml_text.split("?>", 1)[1])
    decoded = " ".join([*(v for e in parsed.iter() for v in e.attrib.values()), *(e.text or "" for e in parsed.iter())])
    assert MASK in decoded and leaks(decoded) == []
    assert leaks(html.unescape(html_text)) == []


def test_exception_messages() -> None:
    """An EgovError's message leaves by the CLI (ClickError) or a run's result (run_parallel)."""
    from commands.common import ClickError
    from egov.parallel import run_parallel

    error = DeployError(f"dc-db1: psql refused {SECRETS['hostile_password']!r} ({ALL})")
    assert leaks(str(error)) != []  # the raw message holds them: what leaves must not
    shown = ClickError(error)
    assert MASK in shown.message and leaks(shown.message) == [] and shown.exit_code == 1

    def work(name: str) -> Result:
        raise error

    assert leaks(run_parallel(work, ["dc-db1"])["dc-db1"].error) == []
