"""The outside audit (issue 4): Debian's Lynis on every deployed lab host (after test_30_deploy.py)
scores a hardening index of at least 80; a bare host scores about 57."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

pytestmark = pytest.mark.lab

MIN_HARDENING_INDEX = 80
REPORT = "/var/log/lynis-report.dat"


def _audit(lab: Any, name: str) -> tuple[int | None, str]:
    """Install Debian's lynis (apt goes through the DC mirror), audit, return the index and the
    report's warning and suggestion lines (what to fix when the index is too low)."""
    rc, out = lab.exec(name, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q lynis >/dev/null", timeout=300)
    if rc != 0:
        return None, f"apt-get install lynis failed: {out[-1500:]}"
    rc, out = lab.exec(name, f"lynis audit system --quick --no-colors >/dev/null 2>&1; "
                             f"grep -E '^(hardening_index|warning\\[\\]|suggestion\\[\\])=' {REPORT}", timeout=600)
    found = re.search(r"^hardening_index=(\d+)$", out, re.MULTILINE)
    return (int(found.group(1)) if found else None), out


def test_lynis_hardening_index_at_least_80_on_every_host(lab: Any) -> None:
    names = sorted(lab.inventory.hosts)
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        results = dict(zip(names, pool.map(lambda name: _audit(lab, name), names), strict=True))
    for name, (score, _) in results.items():
        print(f"lynis hardening index {name}: {score}")
    low = {name: (score, detail) for name, (score, detail) in results.items()
           if score is None or score < MIN_HARDENING_INDEX}
    assert not low, "\n".join(f"{name}: index {score}\n{detail[-3000:]}" for name, (score, detail) in low.items())
