"""Reports of a verify run: JUnit XML for CI and a standalone HTML page for people.

Both are built from the RunResult alone (each node's ``data["controls"]``). Every value is
redacted before XML or HTML escapes it, and the written text once more for any form it hides in.
JUnit: one ``testsuite`` per node, one ``testcase`` per control; a failed control is a
``failure`` whose ``type`` is its severity, an unreachable node's controls fail with the reason.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jinja2

from egov.errors import InputError
from egov.results import RunResult
from egov.secrets import redact, redact_data
from verify.catalogue import Catalogue

TEMPLATE = Path(__file__).with_name("report.html.j2")


def _write(path: str | Path, text: str) -> None:
    try:
        Path(path).write_text(redact(text), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write the report: {exc.strerror}") from None


def _redact_value(value: Any) -> Any:
    # Markup is HTML already (autoescape leaves it alone): the pass over the page covers it
    return redact(value) if type(value) is str else value


def junit_xml(result: RunResult) -> str:
    suites = ET.Element("testsuites", name="egov verify")
    for name, node in result.items():
        name = redact(name)
        controls: list[dict[str, Any]] = redact_data(node.data.get("controls", []))
        failures = sum(not c["passed"] for c in controls)
        suite = ET.SubElement(suites, "testsuite", name=name, tests=str(len(controls)), failures=str(failures),
                              errors="0" if controls or not node.failed else "1",
                              time=str(node.data.get("seconds", 0)))
        if not controls and node.failed:
            # the node's work raised before any control ran
            case = ET.SubElement(suite, "testcase", classname=name, name="reach")
            ET.SubElement(case, "error", message=redact(node.error))
        for c in controls:
            case = ET.SubElement(suite, "testcase", classname=f"{name}.{c['group']}",
                                 name=f"{c['id']} {c['title']}", time=str(c["seconds"]))
            if not c["passed"]:
                failure = ET.SubElement(case, "failure", type=c["severity"], message=c["detail"])
                failure.text = f"{name}: {c['id']} ({c['severity']}) failed: {c['detail']}"
            else:
                ET.SubElement(case, "system-out").text = c["detail"]
    ET.indent(suites)
    return redact(ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n")


def write_junit(result: RunResult, path: str | Path) -> None:
    _write(path, junit_xml(result))


def html_report(result: RunResult, catalogue: Catalogue, title: str) -> str:
    # finalize: each value the page prints is redacted before autoescape writes it as HTML
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             finalize=_redact_value)
    # the matrix's columns: every control that applied to at least one node, in catalogue order
    applied = {c["id"] for node in result.values() for c in node.data.get("controls", [])}
    columns = [c for c in catalogue.controls if c.id in applied]
    cells = {name: {c["id"]: c for c in node.data.get("controls", [])} for name, node in result.items()}
    return redact(env.get_template(TEMPLATE.name).render(
        title=title, generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        result=result, columns=columns, cells=cells, groups=catalogue.groups,
        failed_required=sum(1 for n in result.values() for c in n.data.get("controls", [])
                            if not c["passed"] and c["severity"] == "required"),
        total=sum(len(n.data.get("controls", [])) for n in result.values()),
    ))


def write_html(result: RunResult, catalogue: Catalogue, path: str | Path, title: str) -> None:
    _write(path, html_report(result, catalogue, title))
