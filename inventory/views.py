"""What `egov inventory` shows: plain data for tables and JSON, and the WAN topology as DOT, Mermaid or SVG."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from egov.errors import EgovError, InventoryError
from inventory.model import Inventory, Site


class GraphError(EgovError):
    """The topology could not be drawn (graphviz missing or failing)."""


def summary(inv: Inventory) -> dict[str, Any]:
    return {
        "inventory": str(inv.path), "environment": inv.environment, "province": inv.province.name,
        "levels": [lvl.name for lvl in inv.levels], "sites": len(inv.sites), "hosts": len(inv.hosts),
        "routers": len(inv.routers), "links": len(inv.links), "supernet": str(inv.plan.supernet),
    }


def ipplan(inv: Inventory) -> dict[str, Any]:
    """The plan: pools, per-level blocks and every site's networks (``override`` marks explicit subnets)."""
    plan = inv.plan
    return {
        "supernet": str(plan.supernet),
        "control_ip": str(plan.control_ip),
        "used": plan.needed,
        "pools": {purpose: str(net) for purpose, net in plan.pools.items()},
        "blocks": [{"level": level, "purpose": purpose, "network": str(net)}
                   for (level, purpose), net in sorted(plan.blocks.items(), key=lambda b: b[1])],
        "rows": [{"site": site, "purpose": purpose, "network": str(net),
                  "override": purpose in inv.sites[site].overrides}
                 for site, purpose, net in plan.rows()],
    }


def chosen_sites(inv: Inventory, site: str | None = None, level: str | None = None) -> list[Site]:
    """Sites to show: ``site`` and its descendants, and/or those of ``level``; all by default."""
    names = set(inv.descendants(site)) if site else set(inv.sites)
    return [s for s in inv.sites.values() if s.name in names and (level is None or s.level == level)]


def show(inv: Inventory, site: str | None = None, level: str | None = None) -> dict[str, Any]:
    """Sites, hosts and routers (with their addresses and resolved variables) of the chosen sites."""
    if site is not None and site not in inv.sites:
        raise_unknown(inv, "site", site, list(inv.sites))
    if level is not None and level not in [lvl.name for lvl in inv.levels]:
        raise_unknown(inv, "level", level, [lvl.name for lvl in inv.levels])
    sites = chosen_sites(inv, site, level)

    def variables(obj: Any) -> dict[str, Any]:
        return {key: {"value": value, "from": obj.layers.origin(key)} for key, value in obj.vars.items()}

    return {
        "sites": [{
            "name": s.name, "title": s.title, "code": s.code, "level": s.level, "kind": s.kind,
            "parent": s.parent, "index": s.index, "subnets": {p: str(n) for p, n in s.subnets.items()},
            "hosts": s.hosts, "routers": s.routers, "vars": variables(s),
        } for s in sites],
        "hosts": [{
            "name": h.name, "site": h.site, "slot": h.slot, "roles": h.roles, "cpu": h.cpu,
            "memory_gb": h.memory_gb, "disk_gb": h.disk_gb, "mgmt_ip": str(h.mgmt_ip),
            "server_ip": str(h.server_ip) if h.server_ip else None, "vars": variables(h),
        } for s in sites for h in (inv.hosts[n] for n in s.hosts)],
        "routers": [{
            "name": r.name, "site": r.site, "slot": r.slot, "platform": r.platform, "model": r.model,
            "loopback": str(r.loopback), "mgmt_ip": str(r.mgmt_ip), "uplinks": r.uplinks,
            "lan": {p: {"name": lan.name, "ip": str(lan.ip)} for p, lan in r.lan_interfaces.items()},
            "interfaces": [{"name": i.name, "ip": str(i.ip), "peer": i.peer, "link": i.link.name}
                           for i in r.interfaces],
            "vars": variables(r),
        } for s in sites for r in (inv.routers[n] for n in s.routers)],
    }


def host_variables(inv: Inventory, name: str) -> dict[str, Any]:
    """Every resolved variable of host ``name``, in name order, with the layer it came from
    (``inv.origin``). Secrets are never among them: they are not in the inventory."""
    if name not in inv.hosts:
        raise_unknown(inv, "host", name, list(inv.hosts))
    host = inv.hosts[name]
    return {"host": host.name, "site": host.site,
            "vars": [{"key": key, "value": host.vars[key], "from": inv.origin(host, key)} for key in sorted(host.vars)]}


def raise_unknown(inv: Inventory, what: str, name: str, known: list[str]) -> None:
    shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
    raise InventoryError(f"{inv.path}: no {what} is named {name!r} (there are: {shown})")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(inv: Inventory) -> str:
    """The WAN as Graphviz DOT: one box per site (its routers inside), one edge per link with its /31."""
    out = [f"graph {_quote(inv.province.name)} {{",
           ('  graph [rankdir=TB, fontname="DejaVu Sans", labelloc=t, '
           f'label={_quote(f"{inv.province.name}: WAN ({inv.plan.supernet})")}];'),
           '  node [shape=box, style=rounded, fontname="DejaVu Sans", fontsize=10];',
           '  edge [fontname="DejaVu Sans", fontsize=8];']
    for site in inv.sites.values():
        if not site.routers:
            continue
        out.append(f"  subgraph {_quote('cluster_' + site.name)} {{")
        out.append(f"    label={_quote(f'{site.title} ({site.level})')};")
        for name in site.routers:
            router = inv.routers[name]
            label = f"{name}\\n{router.platform} {router.loopback}"
            out.append(f"    {_quote(name)} [label=\"{label}\"];")
        out.append("  }")
    for link in inv.links:
        out.append(f"  {_quote(link.b.router)} -- {_quote(link.a.router)} [label={_quote(str(link.subnet))}];")
    out.append("}")
    return "\n".join(out) + "\n"


def mermaid(inv: Inventory) -> str:
    """The WAN as a Mermaid flowchart (renders in GitLab/GitHub Markdown)."""
    def node_id(name: str) -> str:
        return name.replace("-", "_")

    def label(text: str) -> str:
        # inside a quoted label Mermaid ends the string at '"' and reads '<' as HTML: its entity codes keep them text
        return text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")

    out = ["flowchart TD"]
    for site in inv.sites.values():
        if not site.routers:
            continue
        out.append(f'  subgraph {node_id("s_" + site.name)}["{label(site.title)} ({site.level})"]')
        for name in site.routers:
            out.append(f'    {node_id(name)}["{name}<br/>{inv.routers[name].loopback}"]')
        out.append("  end")
    for link in inv.links:
        out.append(f"  {node_id(link.b.router)} ---|{link.subnet}| {node_id(link.a.router)}")
    return "\n".join(out) + "\n"


def svg(dot_text: str) -> bytes:
    """Render DOT with Debian's graphviz (`apt-get install graphviz`)."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphError("graphviz is not installed: `apt-get install -y graphviz` (or use --format dot|mermaid)")
    proc = subprocess.run([exe, "-Tsvg"], input=dot_text.encode(), capture_output=True, timeout=300, check=False)
    if proc.returncode != 0:
        raise GraphError(f"graphviz dot failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout
