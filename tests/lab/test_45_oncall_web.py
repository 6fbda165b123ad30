"""The on-call web page for real: served by the lab's monitoring host (nginx, the lab CA's
certificate, the NOC networks only), opened in Debian's chromium (headless, driven over the
DevTools protocol), a stopped host turning its site red within a minute, a screenshot kept.

Runs after test_40 (the monitoring host deployed and watching every host and router).
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.cdp import Browser

pytestmark = pytest.mark.lab
STATE = "(n => n && n.dataset.state)(document.querySelector('g.site[data-site=\"{site}\"]'))"
RED_WITHIN = 60.0


class Page:
    def __init__(self, lab: Any) -> None:
        from monitoring.targets import build_plan

        inv = lab.inventory
        self.host = inv.hosts[build_plan(inv).top[0].name]
        self.url = f"https://{self.host.mgmt_ip}:{self.host.vars['monitoring__web_port']}/"
        pki = Path(lab.state_dir) / "pki"
        self.ca = pki / "ca.crt"
        self.cert = pki / "monitoring.crt"

    def tls(self) -> ssl.SSLContext:
        """The platform's trust: the lab CA, and the name (here the address) checked."""
        return ssl.create_default_context(cafile=str(self.ca))

    def get(self, path: str = "", method: str = "GET") -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, method=method, data=b"{}" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=10, context=self.tls()) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def spki_pin(self) -> str:
        """Chromium's pin of the page's certificate (base64 SHA-256 of its public key): the
        browser's profile is new and empty, so it is told this key instead of the lab CA."""
        key = x509.load_pem_x509_certificate(self.cert.read_bytes()).public_key()
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
def page(lab: Any) -> Page:
    """The monitoring host deployed with its page (a second deploy after test_40's changes nothing)."""
    from deploys.runner import run_deploy

    result = run_deploy(lab.inventory, ["monitoring"])
    assert not result.failed, {n: r.error for n, r in result.items() if r.failed}
    the_page = Page(lab)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if the_page.get()[0] == 200:
                break
        except OSError:
            pass
        time.sleep(1)
    return the_page


@pytest.fixture(scope="module")
def browser(page: Page) -> Iterator[Browser]:
    with Browser([f"--ignore-certificate-errors-spki-list={page.spki_pin()}"], width=1600, height=1000) as b:
        yield b


def _outsider(lab: Any) -> str:
    """A lab host outside the NOC networks (a district's node)."""
    inv = lab.inventory
    return next(h.name for h in inv.hosts.values()
                if not any(IPv4Address(str(h.mgmt_ip)) in net for net in inv.noc_networks))


def test_the_page_is_served_over_tls_to_the_noc_only_and_reads_only(lab: Any, page: Page) -> None:
    status, body = page.get()  # from the control machine, one of the NOC networks
    assert status == 200 and b'src="app.js"' in body
    status, body = page.get("page.json")
    data = json.loads(body)
    assert status == 200 and {s["name"] for s in data["sites"]} == set(lab.inventory.sites)
    status, body = page.get(data["api"]["prometheus"] + "?query=up")
    assert status == 200 and json.loads(body)["status"] == "success"  # Prometheus, through nginx
    status, body = page.get(data["api"]["alertmanager"])
    assert status == 200 and isinstance(json.loads(body), list)
    # read-only: a POST (Alertmanager would take it as new alerts) is refused by nginx
    assert page.get(data["api"]["alertmanager"], method="POST")[0] == 403
    assert page.get("api/alertmanager/api/v2/silences/x")[0] == 404  # nothing but the listed paths
    # a host outside the NOC networks is refused
    outsider = _outsider(lab)
    probe = ("import ssl, urllib.request, urllib.error\n"
             "ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n"
             f"try: print(urllib.request.urlopen('{page.url}', timeout=10, context=ctx).status)\n"
             "except urllib.error.HTTPError as e: print(e.code)\n")
    rc, out = lab.exec(outsider, f"python3 -c \"{probe}\"")
    assert rc == 0 and out.strip() == "403", f"{outsider}: {out}"


def test_a_stopped_host_turns_its_site_red_within_a_minute(lab: Any, page: Page, browser: Browser) -> None:
    inv = lab.inventory
    victim = next(h.name for h in inv.hosts.values() if inv.sites[h.site].depth > 0 and "monitoring" not in h.roles)
    site = inv.hosts[victim].site
    browser.goto(page.url)
    state = STATE.format(site=site)
    browser.wait_for(f"document.body && document.body.dataset.lastRead && {state} === 'ok'", 180, 1)
    lab.stop_node(victim)
    try:
        stopped = time.monotonic()
        browser.wait_for(f"{state} === 'critical'", RED_WITHIN + 30, 1)
        took = time.monotonic() - stopped
        alerts = browser.evaluate("[...document.querySelectorAll('#alerts li')].map(li => li.innerText)")
        shot = browser.screenshot(Path(lab.state_dir) / "oncall-web.png")
        print(f"\n{victim} stopped: {site} red on the page after {took:.0f} s; screenshot {shot}")
        assert took < RED_WITHIN, f"{site} turned red only after {took:.0f} s"
        assert any(a.startswith("HostDown") and victim in a for a in alerts), alerts
    finally:
        lab.start_node(victim)
    browser.wait_for(f"{state} !== 'critical'", 180, 2)
