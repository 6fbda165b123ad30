"""The two-level lab (inventory/lab-2level.yml), after the main lab is down (test_90): a province and its
commune-level units with no district between them, as Quảng Ninh is since July 2025.

Brought up here, in one module, and brought down at its end: the data centre's entry point, web tier, DNS,
NTP, mirror and log host are deployed and the routers configured; then ``node up`` of the ward with a node host
(kind ``local_node``) must say READY, and two agencies' component portals (a department's and the ward's
committee's) must answer over HTTPS, by their own names through the VIP, with their agency's name.

$EGOV_TWO_LEVEL_INVENTORY names another inventory (a copy with another supernet) and
$EGOV_TWO_LEVEL_LAB_NAME another lab name (default ``lab-2level``), so a developer can run it beside
other labs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

pytestmark = pytest.mark.lab

INVENTORY = Path(__file__).resolve().parents[2] / "inventory" / "lab-2level.yml"
COMMUNE = "hong-gai"
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def two_level() -> Iterator[Any]:
    """The two-level lab, up for this module's tests and down after them (whatever they found)."""
    from inventory import load_inventory
    from lab import Lab

    env = {"EGOV_LAB_NAME": os.environ.get("EGOV_TWO_LEVEL_LAB_NAME", "lab-2level")}
    with mock.patch.dict(os.environ, env):
        started = time.monotonic()
        the_lab = Lab(load_inventory(os.environ.get("EGOV_TWO_LEVEL_INVENTORY") or INVENTORY))
        report = the_lab.up()
        TIMES["lab up"] = time.monotonic() - started
        try:
            if report.nodes.failed:
                pytest.fail("lab up failed: " + "; ".join(f"{n}: {r.error}" for n, r in report.nodes.items()
                                                          if r.failed))
            yield the_lab
        finally:
            started = time.monotonic()
            the_lab.down()
            TIMES["lab down"] = time.monotonic() - started
            print("two-level lab: " + ", ".join(f"{step} {seconds:.0f} s" for step, seconds in TIMES.items()))


def _problems(result: Any) -> str:
    return "; ".join(f"{n}: {r.error}" for n, r in result.items() if r.failed)


def test_the_data_centre_comes_up(two_level: Any) -> None:
    """What a commune's node and the portals need of the data centre: entry point, web, DNS, NTP, mirror
    and log host (dc-app1, dc-app2; the app hosts stay bare: the portals' home pages are nginx's), and the
    core routers."""
    from deploys.runner import run_deploy
    from network.push import Options, push

    started = time.monotonic()
    inv = two_level.inventory
    result = run_deploy(inv, ["lb", "web", "dns", "ntp", "mirror"])
    assert not result.failed, _problems(result)
    pushed = push(inv, [inv.routers[r] for r in inv.routers if inv.routers[r].site == "dc"],
                  Options.for_inventory(inv, None))
    assert not pushed.failed, _problems(pushed)
    TIMES["data centre"] = time.monotonic() - started


def test_node_up_of_a_commune_node_is_ready(two_level: Any) -> None:
    from workflows.node_up import node_up

    started = time.monotonic()
    report = node_up(two_level.inventory, COMMUNE)
    TIMES["node up"] = time.monotonic() - started
    assert report.ready, report.to_dict()
    assert [s.name for s in report.steps if s.status == "ok"] == ["deploy", "network", "verify"]
    node = two_level.inventory.hosts_with_role("local_node")[0]
    assert node.site == COMMUNE and node.roles == ["local_node"]


# Run on a DC host (a lab host has no route through its site's router to another site's server LAN, so the VIP
# is asked from its own LAN): HTTPS to the VIP with the portal's name (SNI, Host), the chain verified against
# the platform CA only; then plain HTTP with that name. Prints one JSON line.
PORTAL_PROBE = r"""
import http.client, json, socket, ssl, sys
vip, portal, ca = sys.argv[1], sys.argv[2], sys.argv[3]
tls = ssl.create_default_context(cadata=ca).wrap_socket(socket.create_connection((vip, 443), timeout=10),
                                                        server_hostname=portal)
https = http.client.HTTPConnection(portal)
https.sock = tls
https.request("GET", "/")
r = https.getresponse()
page = {"status": r.status, "hsts": r.headers.get("Strict-Transport-Security"), "body": r.read().decode()}
plain = http.client.HTTPConnection(vip, 80, timeout=10)
plain.request("GET", "/", headers={"Host": portal})
r = plain.getresponse()
print(json.dumps({"page": page, "redirect": [r.status, r.headers.get("Location")]}, ensure_ascii=False))
"""


def test_two_agencies_portals_answer_over_https_with_their_names(two_level: Any) -> None:
    """The ward's own resolver (the node's unbound, forwarding to the DC DNS) answers each portal's name;
    the VIP answers HTTPS by that name with a certificate the platform CA signed for it, HSTS on, and a page
    holding the agency's name; plain HTTP is sent to HTTPS."""
    import json

    from inventory.services import vip
    from verify.probe import SCRIPT

    inv = two_level.inventory
    node = inv.hosts_with_role("local_node")[0].name
    ca = (two_level.state_dir / "pki" / "ca.crt").read_text()
    assert len(inv.agencies) == 2
    for agency in inv.agencies.values():
        spec = [{"kind": "dns", "server": "127.0.0.1", "name": agency.portal}]
        rc, out = two_level.exec(node, ["python3", "-c", SCRIPT, json.dumps(spec)])
        assert rc == 0 and json.loads(out.splitlines()[-1])[0].get("answers") == 1, out
        rc, out = two_level.exec("dc-app2", ["python3", "-c", PORTAL_PROBE, str(vip(inv)), agency.portal, ca])
        assert rc == 0, out
        answer = json.loads(out.splitlines()[-1])
        assert answer["page"]["status"] == 200 and answer["page"]["hsts"].startswith("max-age="), answer
        assert f"<h1>{agency.name}</h1>" in answer["page"]["body"], answer
        assert answer["redirect"] == [301, f"https://{agency.portal}/"], answer
