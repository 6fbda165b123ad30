"""Benchmark: the egov exporter's scrape latency and memory, the on-call status view for the
whole province, and config generation time.

    /opt/egov-venv/bin/python benchmarks/monitoring.py [--scrapes 2000] [--json]

The exporter runs as it does in production (``python -m monitoring.exporter``, its own
process) with the lab's generated configuration (every router of the lab with its labels), a
backup status file and a router drift file; its background collectors run every second (30
and 900 times more often than in production) while the benchmark scrapes /metrics over HTTP.
Targets: p99 scrape < 50 ms, RSS < 60 MB.

The status view: ``egov monitor status`` for inventory/quangninh.yml (every site) against a
stand-in Prometheus and Alertmanager on 127.0.0.1 answering as the real ones do (the recorded
format of tests/fixtures/monitoring/api/cutoff/) for the whole province with one district cut
off: its commune sites' alerts inhibited by its SiteUnreachable. Timed in process
(collect and render, median) and as the whole command (a fresh process, imports included).
Target: under 1 s.

Then: generation time of every monitoring server's files for inventory/quangninh.yml (cold:
first call in a fresh process, which includes imports; warm: median of further calls).

Then the on-call page's first paint for the whole province in headless chromium
(``page_bench``; target: every site coloured within 2 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml

from inventory import load_inventory
from monitoring.config import exporter_config
from monitoring.rules import PROBE_JOBS
from monitoring.targets import site_labels
from tests.support.loopback import free_port

PROVINCE = ROOT / "inventory" / "quangninh.yml"


def exporter_bench(scrapes: int) -> dict[str, float]:
    """Run the exporter on its own files in a scratch directory and scrape it."""
    tmp = Path(tempfile.mkdtemp(prefix="egov-bench-"))
    inv = load_inventory(ROOT / "inventory" / "lab.yml")
    conf = exporter_config(inv, inv.hosts["dc-ops1"])
    (tmp / "backup.json").write_text(json.dumps({db: {"last_success_timestamp": time.time(), "size_bytes": 1 << 26}
                                                 for db in ("docmgmt", "onestop", "portal", "specdb")}))
    (tmp / "drift.json").write_text(json.dumps({r: 0 for r in inv.routers}))
    port = free_port()
    conf.update(listen=f"127.0.0.1:{port}", interval=1, backup_status_file=str(tmp / "backup.json"),
                drift_file=str(tmp / "drift.json"), drift_interval=1)
    (tmp / "exporter.yml").write_text(yaml.safe_dump(conf))
    proc = subprocess.Popen([sys.executable, "-m", "monitoring.exporter", "--config", str(tmp / "exporter.yml")],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 20
        while True:  # until the background collectors have filled the cache
            try:
                body = urllib.request.urlopen(url, timeout=2).read().decode()
                if "egov_router_config_drift_lines" in body and "egov_backup_last_success" in body:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("exporter did not come up")
            time.sleep(0.2)
        times = []
        for _ in range(scrapes):
            start = time.perf_counter()
            with urllib.request.urlopen(url, timeout=5) as resp:
                resp.read()
            times.append((time.perf_counter() - start) * 1000)
        rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                      if line.startswith("VmRSS:"))
        series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
    finally:
        proc.terminate()
        proc.wait(10)
    times.sort()
    return {"scrapes": scrapes, "series": series, "routers": len(conf["routers"]),
            "p50_ms": round(times[len(times) // 2], 2), "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
            "max_ms": round(times[-1], 2), "rss_mb": round(rss_kb / 1024, 1)}


def province_answers(inv: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What Prometheus and Alertmanager answer for the whole province, one district cut off."""
    now = time.time()
    cut = next(s for s in inv.sites.values() if s.children and s.depth == 1)
    down_sites = {cut.name, *cut.children}

    def vector(rows: list[tuple[dict[str, str], int]]) -> dict[str, Any]:
        return {"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": m, "value": [now, str(v)]} for m, v in rows]}}

    count: list[tuple[dict[str, str], int]] = []
    up: list[tuple[dict[str, str], int]] = []
    wan: list[tuple[dict[str, str], int]] = []
    reach: list[tuple[dict[str, str], int]] = []
    down: list[tuple[dict[str, str], int]] = []
    for site in inv.sites.values():
        labels = site_labels(inv, site.name)
        alive = site.name not in down_sites
        for job, n in (("node", len(site.hosts)), ("icmp_router", len(site.routers))):
            if n:
                count.append(({**labels, "job": job}, n))
                up.append(({**labels, "job": job}, n if alive else 0))
        if site.routers:
            wan.append((labels, 1 if alive else 0))
        reach.append((labels, 1 if alive else 0))
        if not alive:
            down += [({**labels, "job": "icmp_router", "instance": r, "__name__": "probe_success"}, 0)
                     for r in site.routers]
    queries = {"site:targets:count": vector(count), "site:targets_up:sum": vector(up),
               "site:wan_reachable:max": vector(wan), "site:reachable:max": vector(reach),
               f'up{{job!~"{PROBE_JOBS}"}} == 0 or probe_success == 0': vector(down)}
    alerts: list[dict[str, Any]] = []

    def alert(name: str, site: str, instance: str, inhibited_by: list[str]) -> str:
        fingerprint = f"{len(alerts):016x}"
        alerts.append({"labels": {"alertname": name, "severity": "critical", "instance": instance,
                                  **site_labels(inv, site)},
                       "annotations": {"summary": f"{name} {site}", "runbook_url": f"docs/monitoring.md#{name}"},
                       "startsAt": "2026-12-01T02:00:00Z", "fingerprint": fingerprint,
                       "status": {"state": "suppressed" if inhibited_by else "active", "silencedBy": [],
                                  "inhibitedBy": inhibited_by}})
        return fingerprint

    root = alert("SiteUnreachable", cut.name, "", [])
    for name in sorted(down_sites):
        own = root if name == cut.name else alert("SiteUnreachable", name, "", [root])
        for r in inv.sites[name].routers:
            alert("RouterUnreachable", name, r, [own])
    return queries, alerts


def status_bench(runs: int = 20) -> dict[str, Any]:
    from click.testing import CliRunner

    from cli import main
    from monitoring.status import collect_status

    inv = load_inventory(PROVINCE)
    queries, alerts = province_answers(inv)

    class Api(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlparse(self.path)
            if url.path == "/api/v1/query":
                body = queries[urllib.parse.parse_qs(url.query)["query"][0]]
            else:
                body = alerts
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_address[1]}"
    args = ["monitor", "status", "-i", str(PROVINCE), "--prometheus", api, "--alertmanager", api]
    try:
        order = list(inv.sites)
        collect = []
        for _ in range(runs):
            start = time.perf_counter()
            report = collect_status(api, api, order=order)
            collect.append(time.perf_counter() - start)
        render = []
        for _ in range(runs):
            start = time.perf_counter()
            result = CliRunner().invoke(main, args)
            render.append(time.perf_counter() - start)
        lines = result.output.count("\n")
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
        command = time.perf_counter() - start
    finally:
        server.shutdown()
    return {"inventory": "inventory/quangninh.yml", "sites": len(report.sites), "alerts": len(report.alerts),
            "failing_sites": len(report.failing()), "lines_printed": lines, "exit_code": proc.returncode,
            "collect_ms": round(statistics.median(collect) * 1000, 1),
            "collect_and_render_ms": round(statistics.median(render) * 1000, 1),
            "command_s": round(command, 2)}


def generation_bench(runs: int = 5) -> dict[str, float]:
    code = (
        "import time, sys; sys.path.insert(0, sys.argv[1]); t = time.perf_counter();"
        "from inventory import load_inventory; inv = load_inventory(sys.argv[2]); t1 = time.perf_counter();"
        "from monitoring.config import generate; g = generate(inv); t2 = time.perf_counter(); warm = [];"
        "exec('for _ in range(int(sys.argv[3])):\\n s = time.perf_counter(); generate(inv);"
        " warm.append(time.perf_counter() - s)');"
        "import json, statistics; print(json.dumps({'load_s': t1 - t, 'cold_s': t2 - t1,"
        " 'warm_s': statistics.median(warm)}))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(ROOT), str(ROOT / "inventory" / "quangninh.yml"), str(runs)],
                         capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    inv = load_inventory(ROOT / "inventory" / "quangninh.yml")
    return {"inventory": "inventory/quangninh.yml", "sites": len(inv.sites), "hosts": len(inv.hosts),
            "routers": len(inv.routers), "links": len(inv.links), "load_s": round(data["load_s"], 3),
            "generate_cold_s": round(data["cold_s"], 3), "generate_warm_s": round(data["warm_s"], 3)}


def page_bench(loads: int = 5) -> dict[str, Any]:
    """The on-call page's first paint for the whole province (inventory/quangninh.yml), in Debian's
    chromium (headless), against loopback stand-ins of the two APIs (tests/support/oncall_stub.py)
    answering for every site: first contentful paint (the page's frame) and the first paint with
    every site coloured (the page's ``egov-states`` mark), each load in a fresh tab of one browser."""
    from monitoring.targets import build_plan
    from monitoring.web.site import site_files
    from tests.support.cdp import Browser
    from tests.support.oncall_stub import World, alert, serve

    inv = load_inventory(ROOT / "inventory" / "quangninh.yml")
    files = site_files(inv, build_plan(inv).top[0])
    sites = {name: (4, 4, True) for name in inv.sites}
    communes = [s.name for s in inv.sites.values() if s.level == "commune"]
    for name in communes[::10]:  # one commune in ten cut off, each with its alerts
        sites[name] = (1, 0, False)
    alerts = [alert(a, "critical", n, instance=f"{n}-r1") for n in communes[::10]
              for a in ("SiteUnreachable", "RouterUnreachable")]
    fcp, states = [], []
    with serve(files, World(sites, alerts)) as url, Browser() as browser:
        for _ in range(loads):
            browser.goto("about:blank")
            browser.goto(url)
            browser.wait_for("performance.getEntriesByName('egov-states').length", 30, 0.02)
            fcp.append(browser.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime"))
            states.append(browser.evaluate("performance.getEntriesByName('egov-states')[0].startTime"))
    return {"inventory": "inventory/quangninh.yml", "sites": len(inv.sites), "loads": loads, "alerts": len(alerts),
            "page_json_kb": round(len(files["page.json"].encode()) / 1024, 1),
            "first_contentful_paint_ms": round(statistics.median(fcp)),
            "states_painted_ms_median": round(statistics.median(states)),
            "states_painted_ms_max": round(max(states))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scrapes", type=int, default=2000)
    parser.add_argument("--page-loads", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {"exporter": exporter_bench(args.scrapes), "status": status_bench(), "generation": generation_bench(),
              "page": page_bench(args.page_loads)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    e, st, g = result["exporter"], result["status"], result["generation"]
    print(f"egov exporter: {e['scrapes']} scrapes of {e['series']} series ({e['routers']} routers' drift, "
          "backups; collectors every 1 s)")
    print(f"  p50 {e['p50_ms']} ms  p99 {e['p99_ms']} ms  max {e['max_ms']} ms   (target p99 < 50 ms)")
    print(f"  RSS {e['rss_mb']} MB   (target < 60 MB)")
    print(f"status view for {st['inventory']} ({st['sites']} sites, {st['alerts']} alerts, {st['failing_sites']} "
          f"failing, {st['lines_printed']} lines printed, exit {st['exit_code']}): collect {st['collect_ms']} ms, "
          f"collect and render {st['collect_and_render_ms']} ms, whole command {st['command_s']} s (target < 1 s)")
    print(f"config generation for {g['inventory']} ({g['sites']} sites, {g['hosts']} hosts, {g['routers']} routers, "
          f"{g['links']} links): cold {g['generate_cold_s']} s, warm {g['generate_warm_s']} s "
          f"(inventory load {g['load_s']} s)")
    p = result["page"]
    print(f"on-call page for {p['inventory']} ({p['sites']} sites, {p['alerts']} alerts, "
          f"page.json {p['page_json_kb']} KB), {p['loads']} loads in chromium:")
    print(f"  first contentful paint {p['first_contentful_paint_ms']} ms, every site coloured "
          f"{p['states_painted_ms_median']} ms median, {p['states_painted_ms_max']} ms max   (target < 2000 ms)")


if __name__ == "__main__":
    main()
