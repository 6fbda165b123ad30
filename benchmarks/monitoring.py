"""Benchmark: the egov exporter's scrape latency and memory, and config generation time.

    /opt/egov-venv/bin/python benchmarks/monitoring.py [--scrapes 2000] [--json]

The exporter runs as it does in production (``python -m monitoring.exporter``, its own
process) with the lab's generated configuration pointed at loopback stand-ins: a health
endpoint per application on a local HTTP server, every TLS endpoint on a local TLS listener,
a backup status file and a router drift file. Its background collectors run every second
(30 times more often than in production) while the benchmark scrapes /metrics over HTTP.
Targets: p99 scrape < 50 ms, RSS < 60 MB. Then: generation time of every monitoring server's
files for inventory/quangninh.yml (cold: first call in a fresh process, which includes imports;
warm: median of further calls). Then the on-call page's first paint for the whole province in
headless chromium (``page_bench``; target: every site coloured within 2 s).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml

from inventory import load_inventory
from monitoring.config import exporter_config
from tests.support.tls_stub import self_signed_endpoint


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def exporter_bench(scrapes: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="egov-bench-"))
    now = dt.datetime.now(dt.UTC)
    with self_signed_endpoint(tmp, "bench", now, now + dt.timedelta(days=90)) as tls_port:
        return scrape_exporter(scrapes, tmp, tls_port)


def scrape_exporter(scrapes: int, tmp: Path, tls_port: int) -> dict[str, float]:
    """Run the exporter on its own files in ``tmp``, every TLS endpoint pointed at ``tls_port``, and scrape it."""
    inv = load_inventory(ROOT / "inventory" / "lab.yml")
    health = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=health.serve_forever, daemon=True).start()
    conf = exporter_config(inv, inv.hosts["dc-ops1"])
    for app in conf["apps"]:  # same apps and paths, on loopback
        app["url"] = f"http://127.0.0.1:{health.server_address[1]}/{app['app']}/healthz"
    for t in conf["tls"]:
        t.update(host="127.0.0.1", port=tls_port)
    (tmp / "backup.json").write_text(json.dumps({db: {"last_success_timestamp": time.time(), "size_bytes": 1 << 26}
                                                 for db in ("docmgmt", "onestop", "portal", "specdb")}))
    (tmp / "drift.json").write_text(json.dumps({r: 0 for r in inv.routers}))
    port = free_port()
    conf.update(listen=f"127.0.0.1:{port}", interval=1, backup_status_file=str(tmp / "backup.json"),
                docexchange_url=f"http://127.0.0.1:{health.server_address[1]}/ndxp", drift_file=str(tmp / "drift.json"),
                drift_interval=1)
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
                if "egov_router_config_drift_lines" in body and "egov_tls_certificate_expiry" in body:
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
        health.shutdown()
    times.sort()
    return {"scrapes": scrapes, "series": series, "apps": len(conf["apps"]), "tls_endpoints": len(conf["tls"]),
            "p50_ms": round(times[len(times) // 2], 2), "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
            "max_ms": round(times[-1], 2), "rss_mb": round(rss_kb / 1024, 1)}


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
    result = {"exporter": exporter_bench(args.scrapes), "generation": generation_bench(),
              "page": page_bench(args.page_loads)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    e, g = result["exporter"], result["generation"]
    print(f"egov exporter: {e['scrapes']} scrapes of {e['series']} series ({e['apps']} app checks, "
          f"{e['tls_endpoints']} TLS endpoints, collectors every 1 s)")
    print(f"  p50 {e['p50_ms']} ms  p99 {e['p99_ms']} ms  max {e['max_ms']} ms   (target p99 < 50 ms)")
    print(f"  RSS {e['rss_mb']} MB   (target < 60 MB)")
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
