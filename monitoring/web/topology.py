"""The WAN map the web page draws: the sites of ``egov inventory graph``, placed at deploy time.

Sites down to depth 1 (the province's own sites and the level below) are drawn as boxes; a site
deeper than that (a commune of a district) is folded into its depth-1 ancestor, whose box shows
one small square per folded site. A two-level province (communes right under the province) thus
draws every commune; a three-level one draws its districts with their communes folded in. Edges
join the drawn sites that WAN links join (a folded site's links count as its ancestor's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitoring.targets import zone_of

if TYPE_CHECKING:
    from inventory.model import Inventory

# Box size and spacing in SVG user units; the page scales the drawing to the window.
BOX_W, BOX_H, GAP_X, GAP_Y = 168, 64, 16, 56
# Drawn sites per row below the top: 14 districts fit in two rows, 54 communes in four.
COLUMNS = 8
# Folded sites' squares per line inside a box.
SQUARES_PER_LINE = 16


def _drawn(inv: Inventory, name: str) -> str:
    """The drawn site standing for ``name``: itself, or the depth-1 ancestor it is folded into."""
    return name if inv.sites[name].depth <= 1 else zone_of(inv, name)


def _rows(names: list[str]) -> list[list[str]]:
    return [names[i:i + COLUMNS] for i in range(0, len(names), COLUMNS)] or [[]]


def topology(inv: Inventory) -> dict[str, Any]:
    """Sites (drawn ones with ``x``, ``y``; folded ones with ``folded_into``) and site-level edges.

    ``x``/``y`` are a box's top-left corner; ``width``/``height`` the whole drawing's size.
    """
    top = [s.name for s in inv.sites.values() if s.depth == 0]
    below = [s.name for s in inv.sites.values() if s.depth == 1]
    folded: dict[str, list[str]] = {}
    for site in inv.sites.values():
        if site.depth > 1:
            folded.setdefault(_drawn(inv, site.name), []).append(site.name)
    lines = max((len(v) + SQUARES_PER_LINE - 1) // SQUARES_PER_LINE for v in folded.values()) if folded else 0
    box_h = BOX_H + lines * 10
    rows = [top, *_rows(below)] if below else [top]
    width = max(len(row) for row in rows) * (BOX_W + GAP_X) - GAP_X
    place: dict[str, tuple[int, int]] = {}
    for r, row in enumerate(rows):
        left = (width - (len(row) * (BOX_W + GAP_X) - GAP_X)) // 2  # each row centred
        for c, name in enumerate(row):
            place[name] = (left + c * (BOX_W + GAP_X), r * (box_h + GAP_Y))
    sites = []
    for site in inv.sites.values():
        entry: dict[str, Any] = {"name": site.name, "title": site.title, "level": site.level, "parent": site.parent,
                                 "hosts": list(site.hosts), "routers": list(site.routers)}
        if site.name in place:
            entry.update(x=place[site.name][0], y=place[site.name][1], folded=folded.get(site.name, []))
        else:
            entry["folded_into"] = _drawn(inv, site.name)
        sites.append(entry)
    edges: dict[tuple[str, str], int] = {}
    for link in inv.links:
        child, parent = _drawn(inv, inv.routers[link.a.router].site), _drawn(inv, inv.routers[link.b.router].site)
        if child != parent:
            edges[(child, parent)] = edges.get((child, parent), 0) + 1
    return {
        "width": width, "height": len(rows) * (box_h + GAP_Y) - GAP_Y,
        "box": {"width": BOX_W, "height": box_h, "squares_per_line": SQUARES_PER_LINE},
        "sites": sites,
        "edges": [{"child": c, "parent": p, "links": n} for (c, p), n in edges.items()],
    }
