"""The start of the province inventories the benchmarks generate, up to its first site."""

from __future__ import annotations

from collections.abc import Sequence


def province_header(comment: str, *, environment: str, province: str, supernet: str, levels: Sequence[str],
                    hosts: Sequence[str], routers: Sequence[str], defaults: Sequence[str] = ()) -> str:
    """An inventory whose only site so far is the province data centre ``dc`` (index 0 of the
    ``province`` level); the caller appends its other sites as items of ``sites:``.

    + province, each of levels, hosts and routers: a YAML flow mapping (``{name: core1, slot: 0}``)
    + defaults: ``key: value`` lines for every site
    """
    lines = [f"# {comment}", f"environment: {environment}", f"province: {province}", f"plan: {{supernet: {supernet}}}",
             "levels:", *(f"  - {level}" for level in levels)]
    if defaults:
        lines += ["defaults:", *(f"  {default}" for default in defaults)]
    lines += ["sites:", "  - name: dc", "    level: province", "    kind: datacenter", "    index: 0",
              "    hosts:", *(f"      - {host}" for host in hosts),
              "    routers:", *(f"      - {router}" for router in routers)]
    return "\n".join(lines) + "\n"
