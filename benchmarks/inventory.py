"""Benchmark: load + validate + plan for quangninh.yml and for a generated national-scale inventory.

    /opt/egov-venv/bin/python benchmarks/inventory.py [--provinces 34] [--communes 3321] [--agencies 60] [--json]

The model is one province per file (each province runs its own platform, with its own supernet
and its own IP plan), so the national inventory is 34 generated province files in the two-level
structure of 2025 (province + commune-level units; about 3,321 units in all), each with its
agencies (``--agencies`` per province: 20 departments at the data centre, the rest committees of its
communes), each loaded on its own; the figure is the total. Target: national < 2 s on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._province import province_header
from inventory import load_inventory

LEVELS = [
    "{name: province, max_sites: 4, max_routers: 4, subnets: {mgmt: 26, server: 24, user: 24}}",
    "{name: commune, max_sites: 128, subnets: {mgmt: 27, user: 25}, defaults: {router__platform: cisco_ios}}",
]
CORES = ["{name: core1, slot: 0, platform: juniper_junos}", "{name: core2, slot: 1, platform: juniper_junos}"]
DEPARTMENTS = 20   # a province's departments, boards and organisations (Quảng Ninh's sample: 17)
ROLES = ["dns", "db", "lb", "web", "app_docmgmt", "app_onestop", "app_portal", "app_specdb", "ntp", "log", "directory"]


def province_yaml(n: int, total: int, communes: int, agencies: int) -> str:
    hosts = [f"{{name: h{i}, slot: {i}, roles: [{ROLES[i // 2]}]}}" for i in range(2 * len(ROLES))]
    body = [province_header(f"Generated province {n} of {total} for benchmarks/inventory.py", environment="production",
                            province=f'{{name: "Tỉnh {n}", code: "{n:02d}", domain: p{n}.gov.vn}}',
                            supernet=f"10.{n}.0.0/16", levels=LEVELS, hosts=hosts, routers=CORES)]
    for c in range(communes):
        body.append(f"  - name: c{c}\n    title: Xã {c}\n    level: commune\n    kind: commune_point\n    index: {c}\n"
                    f"    parent: dc\n    vars: {{ntp__upstream_servers: [10.{n}.0.1]}}\n    routers:\n"
                    f"      - {{name: c{c}-r1, slot: 0, uplinks: [core1, core2]}}\n")
    if agencies:
        body.append("agencies:\n")
    for a in range(agencies):   # the departments at the data centre, then committees of the first communes
        site = "dc" if a < DEPARTMENTS or a - DEPARTMENTS >= communes else f"c{a - DEPARTMENTS}"
        body.append(f"  - {{code: a{a}, name: Cơ quan {a} tỉnh {n}, short: a{a}, site: {site}}}\n")
    return "".join(body)


def timed(paths: list[Path]) -> tuple[float, int, int, int, int]:
    start = time.perf_counter()
    sites = routers = links = agencies = 0
    for path in paths:
        inv = load_inventory(path)
        inv.plan.rows()
        sites, routers, links = sites + len(inv.sites), routers + len(inv.routers), links + len(inv.links)
        agencies += len(inv.agencies)
    return time.perf_counter() - start, sites, routers, links, agencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provinces", type=int, default=34)
    parser.add_argument("--communes", type=int, default=3321, help="commune-level units in all")
    parser.add_argument("--agencies", type=int, default=60, help="agencies per province")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_inventory(ROOT / "inventory" / "lab.yml")  # imports and built-in defaults, outside the timing
    results = {}
    seconds, sites, routers, links, agencies = timed([ROOT / "inventory" / "quangninh.yml"])
    results["quangninh.yml"] = {"seconds": round(seconds, 3), "sites": sites, "routers": routers, "links": links,
                                "agencies": agencies}
    with tempfile.TemporaryDirectory(prefix="egov-bench-") as tmp:
        paths = []
        for n in range(args.provinces):
            count = args.communes // args.provinces + (1 if n < args.communes % args.provinces else 0)
            path = Path(tmp) / f"p{n:02d}.yml"
            path.write_text(province_yaml(n + 1, args.provinces, count, args.agencies), encoding="utf-8")
            paths.append(path)
        seconds, sites, routers, links, agencies = timed(paths)
    results[f"national ({args.provinces} provinces)"] = {
        "seconds": round(seconds, 3), "sites": sites, "routers": routers, "links": links, "agencies": agencies}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, r in results.items():
            print(f"{name:28} {r['seconds']:7.3f} s  {r['sites']:5} sites "
                  f"{r['routers']:5} routers {r['links']:5} links {r['agencies']:5} agencies")
        print("target: national < 2 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
