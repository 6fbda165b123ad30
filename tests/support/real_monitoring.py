"""Real Prometheus and Alertmanager (Debian's binaries) on 127.0.0.1, for the on-call tools' tests.

``real_servers`` starts both on free ports with a temporary config and data directory, a rule
file of our generated rules, and a small stand-in fleet: one HTTP server answers as every live
exporter (``/metrics``) and as the blackbox exporter (``/probe?target=X``: ``probe_success`` 1
unless X is in ``Fleet.unreachable``); a host that is down is a closed port. Prometheus can be
stopped and started again on the same port and data (``restart`` tests).

Nothing leaves loopback; the Alertmanager's receivers post to a local webhook that records what
it gets (``Fleet.notifications``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.support.loopback import free_port


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 2.0) -> Any:
    """Poll ``check`` until it returns something true; AssertionError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


@dataclass
class Fleet:
    """The stand-in exporters and blackbox, and the webhook receiver."""

    unreachable: set[str] = field(default_factory=set)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fleet = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlparse(self.path)
                if url.path == "/probe":
                    target = urllib.parse.parse_qs(url.query).get("target", [""])[0]
                    body = f"probe_success {0 if target in fleet.unreachable else 1}\n"
                else:
                    body = "egov_stub 1\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body.encode())

            def do_POST(self) -> None:  # Alertmanager's webhook
                length = int(self.headers.get("Content-Length", 0))
                fleet.notifications.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler


class QuietServer(ThreadingHTTPServer):
    """A scraper that goes away mid-answer (Prometheus stopped) is no error of the stand-in's."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Servers:
    prometheus: str
    alertmanager: str
    fleet: Fleet
    directory: Path
    _start_prometheus: Callable[[], subprocess.Popen[bytes]]
    _procs: dict[str, subprocess.Popen[bytes]]

    def stop_prometheus(self) -> None:
        _stop(self._procs.pop("prometheus"))

    def start_prometheus(self) -> None:
        self._procs["prometheus"] = self._start_prometheus()
        wait_for(f"{self.prometheus} ready", lambda: ready(self.prometheus), 90, 0.2)  # WAL replay on a busy machine

    def expire_silences(self) -> None:
        for s in get_json(f"{self.alertmanager}/api/v2/silences"):
            if s["status"]["state"] != "expired":
                req = urllib.request.Request(f"{self.alertmanager}/api/v2/silence/{s['id']}", method="DELETE")
                urllib.request.urlopen(req, timeout=5).close()


def ready(base: str) -> bool:
    """Prometheus' and Alertmanager's readiness endpoint answers 200."""
    with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as resp:
        return bool(resp.status == 200)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextmanager
def real_servers(rules: dict[str, Any], alertmanager: dict[str, Any],
                 scrape_configs: Callable[[Fleet, int], list[dict[str, Any]]]) -> Iterator[Servers]:
    """Start Prometheus (1 s scrapes and evaluations) and Alertmanager with these configs.

    ``scrape_configs(fleet, dead_port)`` gives the jobs: targets on ``127.0.0.1:fleet.port`` are up,
    on ``127.0.0.1:dead_port`` down. Every receiver of ``alertmanager`` is pointed at the webhook.
    """
    for tool in ("prometheus", "prometheus-alertmanager"):
        if shutil.which(tool) is None:
            raise AssertionError(f"{tool} missing: apt-get install prometheus prometheus-alertmanager")
    directory = Path(tempfile.mkdtemp(prefix="egov-oncall-"))
    fleet = Fleet()
    http = QuietServer(("127.0.0.1", 0), fleet.handler())
    fleet.port = int(http.server_address[1])
    threading.Thread(target=http.serve_forever, daemon=True).start()
    ports = {name: free_port() for name in ("prometheus", "alertmanager", "cluster", "dead")}
    hook = f"http://127.0.0.1:{fleet.port}/hook"
    am = dict(alertmanager)
    am["global"] = {}
    am["receivers"] = [{"name": r["name"], "webhook_configs": [{"url": hook, "send_resolved": True}]}
                       for r in alertmanager["receivers"]]
    am["route"] = {**am["route"], "group_wait": "1s", "group_interval": "2s"}
    (directory / "alertmanager.yml").write_text(yaml.safe_dump(am, sort_keys=False))
    (directory / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    (directory / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(directory / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}]},
        "scrape_configs": scrape_configs(fleet, ports["dead"]),
    }, sort_keys=False))
    prom_url = f"http://127.0.0.1:{ports['prometheus']}"
    am_url = f"http://127.0.0.1:{ports['alertmanager']}"

    def start(argv: list[str], log: str) -> subprocess.Popen[bytes]:
        with (directory / log).open("ab") as out:  # the child keeps its own descriptor
            return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def start_prometheus() -> subprocess.Popen[bytes]:
        return start(["prometheus", f"--config.file={directory / 'prometheus.yml'}",
                      f"--storage.tsdb.path={directory / 'prom-data'}",
                      f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                      # an alert firing at the first evaluation (the Watchdog, an absent() rule) can
                      # precede Alertmanager's readiness: resend within seconds, not the minute default
                      "--rules.alert.resend-delay=1s"], "prometheus.log")

    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        procs["alertmanager"] = start(
            ["prometheus-alertmanager", f"--config.file={directory / 'alertmanager.yml'}",
             f"--storage.path={directory / 'am-data'}", f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
             f"--cluster.listen-address=127.0.0.1:{ports['cluster']}"], "alertmanager.log")
        servers = Servers(prom_url, am_url, fleet, directory, start_prometheus, procs)
        servers.start_prometheus()
        wait_for(f"{am_url} ready", lambda: ready(am_url), 30, 0.2)
        yield servers
    finally:
        for proc in procs.values():
            _stop(proc)
        http.shutdown()
        http.server_close()
        shutil.rmtree(directory, ignore_errors=True)
