"""Benchmark the lab: image builds (cold and cached), `lab up` and `lab down` for inventory/lab.yml.

    /opt/egov-venv/bin/python benchmarks/lab.py [--no-cold] [--inventory inventory/lab.yml]

The cold build uses its own image names (egov-lab-bench-*), removed afterwards, so the lab's
cached images are neither touched nor reused. The lab named by the inventory ($EGOV_LAB_NAME
or its stem) is brought down first, so `lab up` is measured from nothing; it is left down.
Target: `lab up` for lab.yml under 60 s once images are cached.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inventory import load_inventory
from lab import Lab, images
from lab.engine import docker

UP_TARGET_S = 60.0


def timed(label: str, fn):
    start = time.monotonic()
    result = fn()
    seconds = time.monotonic() - start
    print(f"{label:<44} {seconds:7.1f} s", flush=True)
    return seconds, result


def cold_build() -> float:
    """All three images built from nothing under throw-away names."""
    prefix = images.IMAGE_PREFIX
    images.IMAGE_PREFIX = "egov-lab-bench"
    try:
        seconds, builds = timed("images: cold build (debootstrap + 2 builds)", images.ensure_images)
        for build in builds:
            print(f"  {build.name:<8} {build.seconds:6.1f} s  {build.tag}")
    finally:
        bench = [b for b in images.image_tags(images.debian_mirror()).values()]
        images.IMAGE_PREFIX = prefix
        docker("rmi", *reversed(bench), check=False)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default=str(Path(__file__).resolve().parent.parent / "inventory/lab.yml"))
    parser.add_argument("--no-cold", action="store_true", help="skip the cold image build (about 75 s)")
    args = parser.parse_args()
    inv = load_inventory(args.inventory)
    lab = Lab(inv)
    print(f"lab {lab.name}: {len(inv.hosts)} hosts, {len(inv.routers)} routers, {len(inv.links)} WAN links")
    if not args.no_cold:
        cold_build()
    timed("images: cached (recipe hashes match)", images.ensure_images)
    timed("lab down (before: start from nothing)", lab.down)
    up_s, report = timed("lab up (images cached, no containers)", lab.up)
    if report.nodes.failed:
        print(f"lab up FAILED on {report.nodes.failed_targets}")
        return 1
    _, again = timed("lab up again (idempotent)", lab.up)
    print(f"  second up changed: {again.changed}")
    _, status = timed("lab status", lab.status)
    print(f"  nodes answering SSH: {sum(r.data['ssh'] for r in status.values())}/{len(status)}")
    timed("lab down", lab.down)
    verdict = "OK" if up_s < UP_TARGET_S else "OVER TARGET"
    print(f"lab up {up_s:.1f} s against a target of {UP_TARGET_S:.0f} s: {verdict}")
    return 0 if up_s < UP_TARGET_S and not again.changed else 1


if __name__ == "__main__":
    sys.exit(main())
