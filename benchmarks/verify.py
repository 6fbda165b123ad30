"""Verify time: every lab host at once versus one host. Target: all hosts < 2x one host.

    python benchmarks/verify.py [--inventory inventory/lab.yml] [--host dc-db1] [--runs 3]

Needs a deployed lab (``egov lab up`` then ``egov deploy``). Prints the median wall time of
``verify.run`` for one host and for every host, and their ratio; exits 1 when the target is missed.
Also prints the machine's CPU time during the all-hosts run: the lab's nodes run on this machine's
cores, so that CPU time over the core count is a floor the ratio cannot go below.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_RATIO = 2.0


def verify_times(inventory: str, host: str | None = None, runs: int = 3, workers: int = 20) -> dict[str, float]:
    """Median seconds of ``verify.run`` on one host and on every host of ``inventory``.

    + host: the single host (default: the inventory's first)
    + runs: repetitions per measurement (the median is kept)
    Returns ``{"hosts", "one_s", "all_s", "ratio", "failed_controls"}``.
    """
    import importlib

    from inventory import load_inventory

    # this file is itself named verify.py: import the package explicitly from the repository root
    verify = importlib.import_module("verify")
    load_catalogue, run = verify.load_catalogue, verify.run

    inv = load_inventory(inventory)
    catalogue = load_catalogue()
    one_host = host or next(iter(inv.hosts))

    def timed(limits: list[str]) -> tuple[float, float, int]:
        started, busy = time.monotonic(), _machine_busy()
        result = run(inv, limits, workers=workers, catalogue=catalogue)
        failed = sum(1 for r in result.values() for c in r.data.get("controls", []) if not c["passed"])
        return time.monotonic() - started, _machine_busy() - busy, failed

    one = [timed([one_host])[0] for _ in range(runs)]
    every = [timed([]) for _ in range(runs)]
    one_s, all_s = statistics.median(one), statistics.median(t for t, _, _ in every)
    all_cpu = statistics.median(c for _, c, _ in every)
    return {"hosts": float(len(inv.hosts)), "one_s": round(one_s, 2), "all_s": round(all_s, 2),
            "ratio": round(all_s / one_s, 2), "all_cpu_s": round(all_cpu, 2),
            "cpu_floor_ratio": round(all_cpu / (os.cpu_count() or 1) / one_s, 2),
            "failed_controls": float(every[-1][2])}


def _machine_busy() -> float:
    """CPU seconds this whole machine has spent busy (every process: here the lab's nodes too)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inventory", default="inventory/lab.yml")
    parser.add_argument("--host", default=None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    figures = verify_times(args.inventory, args.host, args.runs)
    print(f"verify: one host {figures['one_s']} s, all {int(figures['hosts'])} hosts {figures['all_s']} s, "
          f"ratio {figures['ratio']} (target < {TARGET_RATIO}); failed controls in the last run: "
          f"{int(figures['failed_controls'])}")
    # The lab's nodes share this machine's cores: the all-hosts run cannot beat its CPU over the cores.
    print(f"machine CPU during the all-hosts run: {figures['all_cpu_s']} s over {os.cpu_count()} cores; "
          f"the ratio this alone sets: {figures['cpu_floor_ratio']}")
    return 0 if figures["ratio"] < TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
