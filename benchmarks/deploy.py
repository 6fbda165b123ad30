"""Deploy times on the lab: the first deploy from bare images and a no-op re-run.
Target: the no-op re-run under 15% of the first deploy.

    python benchmarks/deploy.py [--inventory inventory/lab.yml] [--fresh]

--fresh removes and rebuilds the lab's containers first (``Lab.down`` then ``Lab.up``), so the
first deploy starts from bare images; without it the first figure is whatever state the lab is
in. The package caches (the control machine's and the mirror's) are not cleared: a first deploy on
a new machine also waits for the Debian mirror. Prints JSON; exits 1 when the target is missed or
a host failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_RATIO = 0.15


def deploy_times(inventory: str, fresh: bool) -> tuple[dict[str, float], dict[str, str]]:
    """Seconds of the first deploy and of the no-op re-run, their ratio, changes and failures;
    and the error of each failed host."""
    from deploys.runner import run_deploy
    from inventory import load_inventory

    inv = load_inventory(inventory)
    if fresh:
        from lab import Lab

        lab = Lab(inv)
        lab.down()
        lab.up()
    figures: dict[str, float] = {"hosts": float(len(inv.hosts))}
    errors: dict[str, str] = {}
    for label in ("first", "noop"):
        started = time.monotonic()
        result = run_deploy(inv, [])
        figures[f"{label}_s"] = round(time.monotonic() - started, 1)
        figures[f"{label}_changes"] = float(sum(r.data.get("changes", 0) for r in result.values()))
        figures[f"{label}_failed"] = float(len(result.failed_targets))
        errors.update({f"{label} {n}": result[n].error for n in result.failed_targets})
    figures["ratio"] = round(figures["noop_s"] / figures["first_s"], 3)
    return figures, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inventory", default="inventory/lab.yml")
    parser.add_argument("--fresh", action="store_true", help="Rebuild the lab's containers first (bare images).")
    args = parser.parse_args()
    figures, errors = deploy_times(args.inventory, args.fresh)
    print(json.dumps({**figures, "target_ratio": TARGET_RATIO, "errors": errors}, indent=2))
    bad = (figures["ratio"] >= TARGET_RATIO or figures["first_failed"] or figures["noop_failed"]
           or figures["noop_changes"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
