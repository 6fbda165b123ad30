"""The vendor routers' syslog over TLS (``network__syslog_transport``, ``network__syslog_pki``): the lines each
platform renders, UDP's unchanged bytes, the diff from a router logging over UDP and the second push that sends
nothing, the guard refusing TLS logging that names a PKI object the device lacks (push, offline diff,
rollback), and a bad value refused at validate with its file and line.

Running configurations are the vendors' own printing: the day-0 fixtures (tests/fixtures/network/running,
the PKI object enrolled) and ``syslog-tls.part`` (the TLS lines as each device prints them), through the
simulated devices of tests/support/device_printer.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from inventory import load_inventory
from inventory.services import SYSLOG_TLS_PORT
from network.drivers import driver_class
from network.push import assess, diff_offline
from network.render import render
from tests.support.day0 import DISTRICT, LEVELS, RUNNING, day0
from tests.support.device_printer import after_push

FIXTURES = RUNNING.parent
PLATFORMS_INV = FIXTURES / "platforms.yml"
UDP_GOLDEN = FIXTURES / "golden" / "udp"
VENDORS = ("cisco_ios", "huawei_vrp", "juniper_junos")
LOG_HOST = "10.22.176.14"
USER = "egovadmin"

# what each platform renders to its log host, per its vendor's reference (see the templates' comments)
TLS_LINES = {
    "cisco_ios": ("logging tls-profile EGOV-SYSLOG\n tls-version TLSv1.2\n client-id-trustpoint EGOV-PLATFORM\n"
                  f"logging source-interface Loopback0\nlogging host {LOG_HOST} transport tls profile EGOV-SYSLOG\n"),
    "juniper_junos": (f"        host {LOG_HOST} {{\n            any notice;\n            port 6514;\n"
                      "            transport tls;\n            tlsdetails {\n"
                      "                local-certificate EGOV-PLATFORM;\n"
                      "                trusted-ca-group EGOV-PLATFORM {\n"
                      "                    ca-profiles EGOV-PLATFORM;\n                }\n            }\n        }\n"),
    "huawei_vrp": ("info-center loghost source LoopBack0\n"
                   f"info-center loghost {LOG_HOST} transport tcp ssl-policy EGOV-PLATFORM port 6514\n"),
}
UDP_LINES = {
    "cisco_ios": f"logging source-interface Loopback0\nlogging host {LOG_HOST}\nlogging trap",
    "juniper_junos": f"        host {LOG_HOST} {{\n            any notice;\n        }}\n        source-address",
    "huawei_vrp": f"info-center loghost source LoopBack0\ninfo-center loghost {LOG_HOST}\n#",
}
# the lines a push sends to a router logging over UDP (as the device printed it) to move it to TLS: the
# old host first (IOS and VRP would otherwise keep both, or drop the new one with the old)
UDP_TO_TLS = {
    "cisco_ios": [f"no logging host {LOG_HOST}", "logging tls-profile EGOV-SYSLOG", "tls-version TLSv1.2",
                  "client-id-trustpoint EGOV-PLATFORM", "exit",
                  f"logging host {LOG_HOST} transport tls profile EGOV-SYSLOG"],
    "juniper_junos": [f"set system syslog host {LOG_HOST} port 6514",
                      f"set system syslog host {LOG_HOST} transport tls",
                      f"set system syslog host {LOG_HOST} tlsdetails local-certificate EGOV-PLATFORM",
                      f"set system syslog host {LOG_HOST} tlsdetails trusted-ca-group EGOV-PLATFORM "
                      "ca-profiles EGOV-PLATFORM"],
    "huawei_vrp": [f"undo info-center loghost {LOG_HOST}",
                   f"info-center loghost {LOG_HOST} transport tcp ssl-policy EGOV-PLATFORM port 6514"],
}
# the enrolled PKI object in each day-0 fixture, as the device prints it, and the kind the refusal names
PKI_BLOCKS = {
    "cisco_ios": (r"crypto pki trustpoint EGOV-PLATFORM\n(?: .*\n)*!\n|crypto pki certificate chain EGOV-PLATFORM\n"
                  r"(?:[ \t].*\n)*", "trustpoint"),
    "juniper_junos": (r"security \{\n(?:    .*\n)*\}\n", "CA profile"),
    "huawei_vrp": (r"#\nssl policy EGOV-PLATFORM\n(?: .*\n)*", "SSL policy"),
}


@pytest.fixture(scope="module")
def inv() -> Any:
    return load_inventory(PLATFORMS_INV)


@contextmanager
def transport(inv: Any, name: str, value: str) -> Iterator[Any]:
    """Router ``name`` with ``network__syslog_transport: value`` set on it while the block runs."""
    values = inv.routers[name].layers.values
    before = values["network__syslog_transport"]
    values["network__syslog_transport"] = value
    try:
        yield inv.routers[name]
    finally:
        values["network__syslog_transport"] = before


def _part(platform: str) -> str:
    """The TLS lines as the device prints them (the fixture without its own comment lines)."""
    text = (RUNNING / platform / "syslog-tls.part").read_text(encoding="utf-8")
    return "".join(line + "\n" for line in text.splitlines() if not line.startswith(("! ", "/* ", "# ")))


def _assess(inv: Any, router: Any, running: str, restoring: bool = False) -> Any:
    intended = render(inv, router) if not restoring else running
    return assess(driver_class(router.platform), router, running, intended, USER, inv.plan.control_ip,
                  inv.noc_networks, restoring)


def _udp_device(inv: Any, platform: str) -> tuple[Any, str]:
    """The district router of ``platform`` after a first push with UDP logging, as the device prints it."""
    name = DISTRICT[platform]
    with transport(inv, name, "udp") as router:
        plan = _assess(inv, router, day0(inv, name))
        assert plan.problems == [] and plan.lines
        return router, after_push(platform, day0(inv, name), plan.lines)


def _without_pki(platform: str, text: str) -> str:
    pattern, _ = PKI_BLOCKS[platform]
    stripped = re.sub(pattern, "", text)
    body = [line for line in stripped.splitlines() if not line.startswith(("! ", "/* ", "# "))]
    held = r"(crypto pki (trustpoint|certificate chain)|\s*ca-profile|ssl policy) EGOV-PLATFORM"
    assert not [line for line in body if re.match(held, line)]
    assert "EGOV-PLATFORM" in driver_class(platform).pki_objects(text)  # the object was there, and is gone
    return stripped


# ---- rendering --------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", VENDORS)
def test_tls_is_the_default_and_renders_each_vendors_lines(inv: Any, platform: str) -> None:
    text = render(inv, inv.routers[DISTRICT[platform]])
    assert TLS_LINES[platform] in text
    assert str(SYSLOG_TLS_PORT) == "6514"  # the port the lines above carry is the one home's
    assert UDP_LINES[platform] not in text


@pytest.mark.parametrize("platform", VENDORS)
def test_the_pki_object_is_the_routers_own_variable(inv: Any, platform: str) -> None:
    router = inv.routers[DISTRICT[platform]]
    router.layers.values["network__syslog_pki"] = "NOC-CA_2"
    try:
        text = render(inv, router)
    finally:
        router.layers.values["network__syslog_pki"] = "EGOV-PLATFORM"
    assert TLS_LINES[platform].replace("EGOV-PLATFORM", "NOC-CA_2") in text


@pytest.mark.parametrize("name", sorted(p.stem for p in UDP_GOLDEN.glob("*.cfg")))
def test_udp_renders_todays_bytes(inv: Any, name: str) -> None:
    """``network__syslog_transport: udp`` renders exactly what the routers ran before TLS (golden/udp: the
    golden files of the commit before)."""
    with transport(inv, name, "udp") as router:
        text = render(inv, router)
    assert text == (UDP_GOLDEN / f"{name}.cfg").read_text(encoding="utf-8")
    platform = inv.routers[name].platform
    assert UDP_LINES[platform].split("\n")[1] in text


@pytest.mark.parametrize("name", LEVELS["frr"])
def test_frr_ignores_the_transport(inv: Any, name: str) -> None:
    """An FRR router's Linux host forwards its syslog (lab/nodes.py): vtysh's configuration is the same."""
    with transport(inv, name, "udp") as router:
        udp = render(inv, router)
    assert render(inv, inv.routers[name]) == udp


# ---- the diff and the second push -------------------------------------------------------------------


@pytest.mark.parametrize("platform", VENDORS)
def test_udp_to_tls_replaces_the_old_host_and_a_second_push_sends_nothing(inv: Any, platform: str) -> None:
    router, printed = _udp_device(inv, platform)
    plan = _assess(inv, router, printed)
    assert plan.lines == UDP_TO_TLS[platform]
    assert plan.problems == []
    again = _assess(inv, router, after_push(platform, printed, plan.lines))
    assert again.lines == []


@pytest.mark.parametrize("platform", VENDORS)
def test_the_tls_form_as_the_device_prints_it_is_no_change(inv: Any, platform: str) -> None:
    """A router already logging over TLS, its lines as the vendor documents the device printing them
    (syslog-tls.part, spliced in place of the UDP lines): nothing to send."""
    router, printed = _udp_device(inv, platform)
    udp = {"cisco_ios": f"logging source-interface Loopback0\nlogging host {LOG_HOST}\n",
           "juniper_junos": f"        host {LOG_HOST} {{\n            any notice;\n        }}\n",
           "huawei_vrp": f" info-center loghost source LoopBack0\n info-center loghost {LOG_HOST}\n"}[platform]
    assert printed.count(udp) == 1
    running = printed.replace(udp, _part(platform))
    assert _assess(inv, router, running).lines == []
    # and the splice matters: the UDP form is a change
    assert _assess(inv, router, printed).lines != []


# ---- the guard: no TLS logging without the device's PKI object ---------------------------------------


@pytest.mark.parametrize("platform", VENDORS)
def test_tls_naming_a_pki_object_the_device_lacks_is_refused(inv: Any, platform: str) -> None:
    name = DISTRICT[platform]
    router = inv.routers[name]
    kind = PKI_BLOCKS[platform][1]
    plan = _assess(inv, router, _without_pki(platform, day0(inv, name)))
    assert plan.lines  # the push would configure the router: refused, not "no changes"
    assert plan.problems == [f"router {name}: TLS logging names {kind} EGOV-PLATFORM, which the device does not "
                             f"have: enrol the router's certificate in {kind} EGOV-PLATFORM first, or set "
                             "network__syslog_transport: udp for it"]


@pytest.mark.parametrize("platform", VENDORS)
def test_tls_with_the_pki_object_present_passes(inv: Any, platform: str) -> None:
    name = DISTRICT[platform]
    assert "EGOV-PLATFORM" in day0(inv, name)
    assert _assess(inv, inv.routers[name], day0(inv, name)).problems == []


@pytest.mark.parametrize("platform", VENDORS)
def test_udp_needs_no_pki_object(inv: Any, platform: str) -> None:
    name = DISTRICT[platform]
    with transport(inv, name, "udp") as router:
        assert _assess(inv, router, _without_pki(platform, day0(inv, name))).problems == []


@pytest.mark.parametrize("platform", VENDORS)
def test_a_rollback_to_tls_logging_without_the_object_is_refused(inv: Any, platform: str) -> None:
    """Going back to a backup that logged over TLS, on a device whose PKI object has gone since."""
    router, printed = _udp_device(inv, platform)
    tls = after_push(platform, printed, _assess(inv, router, printed).lines)
    plan = assess(driver_class(platform), router, _without_pki(platform, printed), _without_pki(platform, tls),
                  USER, inv.plan.control_ip, inv.noc_networks, restoring=True)
    assert plan.lines
    assert any(problem.startswith(f"router {router.name}: TLS logging names ") for problem in plan.problems)


def test_the_offline_diff_refuses_it_naming_router_object_and_fix(inv: Any, tmp_path: Path) -> None:
    names = [DISTRICT[platform] for platform in VENDORS]
    for platform, name in zip(VENDORS, names, strict=True):
        (tmp_path / f"{name}.cfg").write_text(_without_pki(platform, day0(inv, name)), encoding="utf-8")
    results = diff_offline(inv, [inv.routers[name] for name in names], tmp_path, USER)
    for name in names:
        assert results[name].failed and results[name].data["status"] == "refused"
        assert f"router {name}: TLS logging names " in results[name].error
        assert "first, or set network__syslog_transport: udp for it" in results[name].error


# ---- validate ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("'EGOV PLATFORM'", "network__syslog_pki: String should match"),
    ("A23456789012345678901234", "network__syslog_pki: String should match"),
    ("'9-CA'", "network__syslog_pki: String should match"),
])
def test_a_bad_pki_name_on_a_router_is_refused_with_file_and_line(tmp_path: Path, value: str, expected: str) -> None:
    text = PLATFORMS_INV.read_text(encoding="utf-8")
    old = "vars: {network__static_routes: [{prefix: 192.0.2.0/24, next_hop: blackhole}]}}]}"
    lines = text.splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if "name: d-ios-r1," in line) + 1
    assert old in lines[number - 1]
    lines[number - 1] = lines[number - 1].replace("vars: {", f"vars: {{network__syslog_pki: {value}, ", 1)
    path = tmp_path / "variant.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["inventory", "validate", "-i", str(path)])
    assert result.exit_code == 2, result.output
    assert re.search(rf"variant\.yml:{number}: .*d-ios-r1.*{re.escape(expected)}", result.output), result.output
