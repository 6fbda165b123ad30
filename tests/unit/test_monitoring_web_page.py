"""The on-call page in a real browser (Debian's chromium, headless) against stand-ins of the two
APIs (tests/support/oncall_stub.py, answers in Prometheus' and Alertmanager's documented shapes):
what colour each site takes, what the alert list says, and what happens when the servers fail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inventory import load_inventory
from monitoring.targets import build_plan
from monitoring.web.site import site_files
from tests.support.cdp import Browser
from tests.support.oncall_stub import World, alert, serve

REPO = Path(__file__).resolve().parents[2]
STATES = "Object.fromEntries([...document.querySelectorAll('#map [data-site]')].map(n => [n.dataset.site, " \
         "[...n.classList].find(c => ['critical', 'warning', 'ok', 'unknown'].includes(c))]))"


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    inv = load_inventory(REPO / "inventory" / "lab.yml")
    files = site_files(inv, build_plan(inv).top[0])
    files["page.json"] = files["page.json"].replace('"refresh_seconds": 5', '"refresh_seconds": 1')  # a quick test
    return files


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(width=1400, height=900) as b:
        yield b


def show(browser: Browser, url: str) -> dict[str, Any]:
    browser.goto(url)
    browser.wait_for("document.body && document.body.dataset.lastRead", 10)
    return dict(browser.evaluate(STATES))


def world_of_trouble() -> World:
    return World(
        sites={"dc": (5, 5, True), "tien-yen": (1, 1, True), "dam-ha": (1, 0, True), "ty-tien-yen": (1, 1, True),
               "ty-dong-ngu": (1, 0, False), "dh-dam-ha": (1, 0, True)},  # dh-quang-tan: nothing known
        wan={"dc": True, "tien-yen": True, "dam-ha": True, "ty-tien-yen": False},
        alerts=[
            # inhibited by its own site's SiteUnreachable: the page is held back, the site is still down
            alert("RouterUnreachable", "critical", "ty-dong-ngu", state="suppressed", instance="qn-ty-dong-ngu-r1",
                  inhibited_by=["SiteUnreachable-ty-dong-ngu"]),
            alert("SiteUnreachable", "critical", "ty-dong-ngu", state="suppressed", silenced_by=["s1"]),
            # silenced: someone knows; listed, but no longer the site's state
            alert("HostDown", "critical", "dh-dam-ha", state="suppressed", instance="qn-dh-node1", silenced_by=["s1"]),
            alert("WanLinkDown", "warning", "tien-yen", instance="qn-ty-r1:wan0--qn-core1:wan6"),
            alert("Watchdog", "none", "dc"),  # always firing, no incident
        ],
        silences=[{"id": "s1", "createdBy": "noc-an", "comment": "power cut, EVN ticket 42",
                   "endsAt": "2026-01-01T06:00:00Z", "status": {"state": "active"}}])


def test_each_site_takes_the_colour_of_its_own_state(files: dict[str, str], browser: Browser) -> None:
    with serve(files, world_of_trouble()) as url:
        states = show(browser, url)
        assert states == {"dc": "ok", "tien-yen": "warning", "dam-ha": "warning", "ty-tien-yen": "warning",
                          "ty-dong-ngu": "critical", "dh-dam-ha": "ok", "dh-quang-tan": "unknown"}
        # a district with a commune down is ringed in red, though its own state is its own
        assert browser.evaluate("document.querySelector('g[data-site=tien-yen]').classList.contains('child-critical')")
        assert not browser.evaluate(
            "document.querySelector('g[data-site=dam-ha]').classList.contains('child-critical')")
        items = browser.evaluate("[...document.querySelectorAll('#alerts li')].map(li => li.innerText)")
        # what pages first, then what is inhibited, silenced last; the Watchdog is no incident
        assert [i.split()[0] for i in items] == ["WanLinkDown", "RouterUnreachable", "HostDown", "SiteUnreachable"]
        assert "inhibited by SiteUnreachable at ty-dong-ngu" in items[1]
        assert "silenced by noc-an until 2026-01-01T06:00: power cut, EVN ticket 42" in items[3]
        # the runbook from docs/monitoring.md, beside the alert
        browser.wait_for("Object.keys(page.runbooks).length", 5)
        browser.evaluate("document.querySelectorAll('#alerts details').forEach(d => d.open = true)")
        text = browser.evaluate("document.querySelector('#alerts li[data-alert=WanLinkDown] details').innerText")
        assert "Runbook: WanLinkDown (warning)" in text and "Report to the carrier" in text


def test_the_page_and_egov_monitor_status_agree_on_every_site(files: dict[str, str], browser: Browser) -> None:
    """The page colours sites by the rules of monitoring/status.py: both read the same servers."""
    from monitoring.status import collect_status

    inv = load_inventory(REPO / "inventory" / "lab.yml")
    worlds = [world_of_trouble(),
              World(sites={name: (2, 2, True) for name in inv.sites}),
              World(sites={"dc": (3, 3, True)}, alerts=[alert("HostDown", "warning", "tien-yen")])]
    for world in worlds:
        with serve(files, world) as url:
            cli = collect_status(url + "api/prometheus", url + "api/alertmanager", order=list(inv.sites))
            assert show(browser, url) == {s.site: s.state for s in cli.sites}


def test_a_failed_read_keeps_the_last_picture_and_says_it_is_stale(files: dict[str, str], browser: Browser) -> None:
    world = World(sites={name: (1, 1, True) for name in ("dc", "tien-yen", "dam-ha")},
                  alerts=[alert("HostDown", "critical", "tien-yen", instance="qn-ty-node1")])
    with serve(files, world) as url:
        before = show(browser, url)
        assert before["tien-yen"] == "critical" and before["dc"] == "ok"
        world.failing = True
        stale = browser.wait_for("document.body.classList.contains('stale') && "
                                 "document.getElementById('freshness').textContent", 10)
        assert stale.startswith("STALE since ") and "HTTP 503" in stale
        assert browser.evaluate(STATES) == before  # the last good read, greyed, not a guess
        world.failing = False
        world.alerts = []
        browser.wait_for("!document.body.classList.contains('stale')", 10)
        assert browser.wait_for(f"({STATES})['tien-yen'] === 'ok'", 5)
