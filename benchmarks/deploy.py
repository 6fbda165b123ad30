"""Deploy figures on the lab, in one run: the first deploy from bare images, the no-op re-run,
``egov verify`` on the same hosts, the floor, and their ratios.

    python benchmarks/deploy.py [--inventory inventory/lab.yml] [--no-fresh] [--no-floor]

1. The lab's containers are rebuilt (``Lab.down`` then ``Lab.up``: bare images) and the fact
   commands remembered from earlier runs dropped (``deploys/fact_cache.py``'s memos), then deployed
   (the first deploy), deployed again twice (the no-op re-runs: must change nothing; the second
   on memos of hosts that stayed as they were) and verified. Each
   deploy's steps are printed with when each was prepared and ended: where a deploy waits.
2. The floor (``benchmarks/floor.py``): what the deploy installed and wrote is read from the
   deployed hosts, the containers are rebuilt bare again, and one shell script per host over one
   SSH session installs the same packages in one apt transaction and writes the same files.
   The lab is left in that state: deploy it again to use it.

Targets: the no-op re-run at most ``NOOP_TARGET_S`` and at most ``NOOP_VERIFY_TARGET`` times
verify; the first deploy at most ``FIRST_FLOOR_TARGET`` times the floor. The package caches (the
control machine's, which the floor uses, and the mirror host's, which starts cold with the
lab) are not cleared: a first deploy on a new machine also waits for the Debian mirror. Prints
one line per figure and a JSON summary; exits 1 when a target is missed or a host failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NOOP_TARGET_S = 10.0
NOOP_VERIFY_TARGET = 3.0
FIRST_FLOOR_TARGET = 1.3


def _print(label: str, seconds: float, note: str = "") -> None:
    print(f"{label:<34} {seconds:7.1f} s  {note}", flush=True)


def _timeline(events: list[tuple[float, Any]]) -> list[dict[str, Any]]:
    """Each step of each host, in order: when it was prepared (its first ``plan`` event) and when it
    ended (its ``done``), in seconds from the deploy's start: where a first deploy waits."""
    steps: list[dict[str, Any]] = []
    open_steps: dict[str, dict[str, Any]] = {}
    for at, event in events:
        if event.kind == "plan" and event.host not in open_steps:
            open_steps[event.host] = {"host": event.host, "prepared": round(at, 1), "ops": event.total}
        elif event.kind == "done" and event.host in open_steps:
            step = open_steps.pop(event.host)
            steps.append({**step, "done": round(at, 1), "status": event.status})
    return sorted(steps, key=lambda s: (s["prepared"], s["host"]))


def _deploy(inv: Any, label: str, figures: dict[str, Any], errors: dict[str, str]) -> None:
    from deploys.runner import run_deploy

    events: list[tuple[float, Any]] = []
    started = time.monotonic()
    result = run_deploy(inv, [], on_progress=lambda e: events.append((time.monotonic() - started, e)))
    seconds = figures[f"{label}_s"] = round(time.monotonic() - started, 1)
    figures[f"{label}_steps"] = _timeline(events)
    changes = figures[f"{label}_changes"] = sum(r.data.get("changes", 0) for r in result.values())
    figures[f"{label}_ops"] = sum(r.data.get("ops", 0) for r in result.values())
    figures[f"{label}_failed"] = len(result.failed_targets)
    errors.update({f"{label} {n}": result[n].error for n in result.failed_targets})
    _print(f"deploy: {label}", seconds, f"{changes} changes, {figures[f'{label}_ops']} operations, "
           f"{len(result.failed_targets)} hosts failed")
    for step in figures[f"{label}_steps"]:
        print(f"  {step['host']:<14} prepared {step['prepared']:7.1f} s  done {step['done']:7.1f} s  "
              f"{step['ops']:4d} operations  {step['status']}", flush=True)


def figures_of(inventory: str, fresh: bool, floor: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """Every figure (seconds, changes, ratios, targets met) and the error of each failed host."""
    from benchmarks import floor as floor_of
    from deploys import fact_cache
    from egov.connection import state_dir
    from inventory import load_inventory
    from inventory.services import PACKAGE_CACHE_PORT
    from lab import Lab

    inv = load_inventory(inventory)
    lab = Lab(inv)
    hosts = list(inv.hosts)
    figures: dict[str, Any] = {"hosts": len(hosts)}
    errors: dict[str, str] = {}
    if fresh:
        lab.down()
        lab.up()
        # a first deploy on a new machine has no fact commands remembered from an earlier run
        shutil.rmtree(state_dir(inv.path, inv.environment) / fact_cache.MEMOS, ignore_errors=True)
    bare = {h: floor_of.bare_packages(lab, h) for h in hosts} if floor else {}
    _deploy(inv, "first", figures, errors)
    _deploy(inv, "noop", figures, errors)
    # the first re-run after a deploy rehearses (its memos were made before the changes); the next
    # does not (deploys/fact_cache.py): both are shown, the target is judged on the first
    _deploy(inv, "noop_settled", figures, errors)
    started = time.monotonic()
    # this file's sibling is verify.py: import the package explicitly from the repository root
    verified = importlib.import_module("verify").run(inv, [])
    figures["verify_s"] = round(time.monotonic() - started, 1)
    _print("verify", figures["verify_s"], f"{len(verified.failed_targets)} hosts not compliant")
    figures["noop_over_verify"] = round(figures["noop_s"] / max(figures["verify_s"], 0.1), 2)
    figures["noop_met"] = figures["noop_s"] <= NOOP_TARGET_S and figures["noop_over_verify"] <= NOOP_VERIFY_TARGET
    if floor:
        works = {h: floor_of.collect(lab, h, bare[h]) for h in hosts}
        figures["floor_packages"] = sum(len(w.packages) for w in works.values())
        lab.down()
        lab.up()
        proxy = f"http://{inv.plan.control_ip}:{PACKAGE_CACHE_PORT}"
        seconds, failed = floor_of.run(lab, works, proxy)
        figures["floor_s"] = round(seconds, 1)
        errors.update({f"floor {h}": e for h, e in failed.items()})
        _print("floor (one script per host)", seconds,
               f"{figures['floor_packages']} packages in {len(hosts)} transactions, {len(failed)} hosts failed")
        figures["first_over_floor"] = round(figures["first_s"] / max(figures["floor_s"], 0.1), 2)
        figures["first_met"] = figures["first_over_floor"] <= FIRST_FLOOR_TARGET
    return figures, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inventory", default="inventory/lab.yml")
    parser.add_argument("--no-fresh", dest="fresh", action="store_false",
                        help="Deploy the lab as it is (the first figure is then not from bare images).")
    parser.add_argument("--no-floor", dest="floor", action="store_false", help="Skip the floor.")
    args = parser.parse_args()
    figures, errors = figures_of(args.inventory, args.fresh, args.floor)
    print(f"no-op re-run / verify: {figures['noop_over_verify']} (targets: <= {NOOP_TARGET_S} s and "
          f"<= {NOOP_VERIFY_TARGET}x verify: {'met' if figures['noop_met'] else 'MISSED'})")
    if "first_over_floor" in figures:
        print(f"first deploy / floor: {figures['first_over_floor']} (target <= {FIRST_FLOOR_TARGET}: "
              f"{'met' if figures['first_met'] else 'MISSED'})")
    print(json.dumps({**figures, "errors": errors}, indent=2))
    bad = (errors or figures["noop_changes"] or figures["noop_settled_changes"] or not figures["noop_met"]
           or not figures.get("first_met", True))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
