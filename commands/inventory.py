"""`egov inventory`: validate the province's description, print its IP plan, show, draw and extend it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from commands import common

if TYPE_CHECKING:
    from inventory.model import Host, Inventory, Site

FORMATS = ("svg", "dot", "mermaid")


@click.group("inventory", cls=common.EgovGroup)
def inventory_group() -> None:
    """The province as data: validate it, print its IP plan, show it, draw it, add a site or an agency."""


@inventory_group.command("validate")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@common.inventory_option
@common.json_option
def validate_cmd(file: str | None, inventory_path: str, as_json: bool) -> None:
    """Check FILE (default: the -i inventory). Exit 0 when valid; 2 with one FILE:LINE: field: problem
    line per problem."""
    from inventory import load_inventory
    from inventory.views import summary

    inv = load_inventory(file or inventory_path)
    _check_monitoring(inv)
    _check_rosters(inv)
    data = summary(inv)
    if as_json:
        common.emit_json({"valid": True, **data})
        return
    click.echo(f"{data['inventory']}: valid ({data['environment']}): {data['sites']} sites, {data['hosts']} hosts, "
               f"{data['routers']} routers, {data['links']} links in {data['supernet']}")


def _check_monitoring(inv: Inventory) -> None:
    """The monitoring__* variables, checked by the monitoring package that reads them, for every site and
    host (each problem once: a value set high up is shared by every node below it)."""
    from egov.errors import MonitoringConfigError
    from monitoring.targets import site_settings

    problems: dict[str, None] = {}
    nodes: list[Site | Host] = [*inv.sites.values(), *inv.hosts.values()]
    for node in nodes:
        try:
            site_settings(inv, node)
        except MonitoringConfigError as exc:
            problems.update(dict.fromkeys(f"{inv.path}: {problem}" for problem in exc.problems))
    if problems:
        raise MonitoringConfigError(list(problems))


def _check_rosters(inv: Inventory) -> None:
    """The directory's rosters (inventory/roster.py): every bad row with its file and line."""
    from deploys.mail import alert_mailboxes
    from inventory.roster import inventory_rosters

    inventory_rosters(inv, alert_mailboxes(inv))


@inventory_group.command("ipplan")
@common.inventory_option
@common.json_option
def ipplan_cmd(inventory_path: str, as_json: bool) -> None:
    """Print the IP plan: pools, per-level blocks and every site's networks."""
    from inventory import load_inventory
    from inventory.views import ipplan

    plan = ipplan(load_inventory(inventory_path))
    if as_json:
        common.emit_json(plan)
        return
    common.table(f"Pools of {plan['supernet']} (control machine {plan['control_ip']})", ["purpose", "pool"],
                 list(plan["pools"].items()))
    common.table("Blocks per level", ["level", "purpose", "block"],
                 [(b["level"], b["purpose"], b["network"]) for b in plan["blocks"]])
    common.table("Sites", ["site", "purpose", "network", ""],
                 [(r["site"], r["purpose"], r["network"], "explicit" if r["override"] else "")
                  for r in plan["rows"]])


@inventory_group.command("show")
@click.option("--site", help="Only this site and the sites below it.")
@click.option("--level", help="Only sites of this level.")
@click.option("--host", "host_name", help="Instead: this host's resolved variables.")
@click.option("--origin", is_flag=True, help="With --host: where each value came from (host, site, level, "
              "province or a defaults file).")
@common.inventory_option
@common.json_option
def show_cmd(site: str | None, level: str | None, host_name: str | None, origin: bool, inventory_path: str,
             as_json: bool) -> None:
    """Sites, hosts and routers with their addresses (--json adds every resolved variable and its origin);
    with --host, that host's variables."""
    from inventory import load_inventory
    from inventory.views import show

    if host_name is not None:
        if site is not None or level is not None:
            raise click.UsageError("--host shows one host: leave out --site and --level")
        _show_host(load_inventory(inventory_path), host_name, origin, as_json)
        return
    if origin:
        raise click.UsageError("--origin goes with --host")
    data = show(load_inventory(inventory_path), site=site, level=level)
    if as_json:
        common.emit_json(data)
        return
    common.table("Sites", ["site", "title", "level", "kind", "parent", "index", "subnets"],
                 [(s["name"], s["title"], s["level"], s["kind"], s["parent"] or "", s["index"],
                   " ".join(f"{p}={n}" for p, n in s["subnets"].items())) for s in data["sites"]])
    if data["hosts"]:
        common.table("Hosts", ["host", "site", "roles", "cpu/mem/disk", "mgmt", "server"],
                     [(h["name"], h["site"], ",".join(h["roles"]), f"{h['cpu']}/{h['memory_gb']}G/{h['disk_gb']}G",
                       h["mgmt_ip"], h["server_ip"] or "") for h in data["hosts"]])
    if data["routers"]:
        common.table("Routers", ["router", "site", "platform", "loopback", "mgmt", "WAN interfaces"],
                     [(r["name"], r["site"], r["platform"], r["loopback"], r["mgmt_ip"],
                       " ".join(f"{i['name']}={i['ip']}>{i['peer']}" for i in r["interfaces"]))
                      for r in data["routers"]])


def _show_host(inv: Inventory, name: str, origin: bool, as_json: bool) -> None:
    import json

    from inventory.views import host_variables

    data = host_variables(inv, name)
    if not origin:
        data["vars"] = [{k: v for k, v in row.items() if k != "from"} for row in data["vars"]]
    if as_json:
        common.emit_json(data)
        return

    def shown(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    columns = ["variable", "value", "from"] if origin else ["variable", "value"]
    common.table(f"Host {data['host']} (site {data['site']})", columns,
                 [[row["key"], shown(row["value"]), *([row["from"] or ""] if origin else [])] for row in data["vars"]])


@inventory_group.command("graph")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="svg", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, callback=common.output_path("file"),
              help="Write to this file (default: standard output).")
@common.inventory_option
def graph_cmd(fmt: str, output: str | None, inventory_path: str) -> None:
    """Draw the WAN: province core, districts, communes, with every link's /31 (SVG needs graphviz)."""
    from inventory import load_inventory, views

    inv = load_inventory(inventory_path)
    text = views.mermaid(inv) if fmt == "mermaid" else views.dot(inv)
    data = views.svg(text) if fmt == "svg" else text.encode()
    if output is None:
        click.echo(data.decode(), nl=False)
        return
    Path(output).write_bytes(data)
    click.echo(f"wrote {output} ({fmt}, {len(inv.routers)} routers, {len(inv.links)} links)", err=True)


@inventory_group.command("add-site")
@click.option("--parent", required=True, help="The site one level up.")
@click.option("--level", required=True, help="The new site's level.")
@click.option("--name", required=True, help="Identifier: lower-case letters, digits and '-'.")
@click.option("--code", default=None, help="Administrative code, if it has one.")
@click.option("--title", default=None, help="Full name with diacritics, e.g. 'Xã Hà Lâu'.")
@click.option("--kind", type=click.Choice(["datacenter", "pasc", "local_node", "reception_point", "district_node",
                                           "commune_point"]), default=None,
              help="Default: the usual kind of the level's sites (district_node and commune_point are the old "
                   "names of local_node and reception_point).")
@click.option("--router", default=None, help="Name of its router (default: NAME-r1).")
@common.inventory_option
@common.json_option
def add_site_cmd(parent: str, level: str, name: str, code: str | None, title: str | None, kind: str | None,
                 router: str | None, inventory_path: str, as_json: bool) -> None:
    """Append a site to the inventory file, keeping its comments and layout; it takes the lowest free index
    of its level, and the file is validated before it is written (an invalid result writes nothing)."""
    from dataclasses import asdict

    from inventory.edit import add_site

    added = add_site(inventory_path, parent=parent, level=level, name=name, code=code, title=title, kind=kind,
                     router=router)
    if as_json:
        common.emit_json(asdict(added))
        return
    if not added.changed:
        click.echo(f"{inventory_path}: site {added.site} is already there (index {added.index}); nothing changed")
        return
    click.echo(f"{inventory_path}: added site {added.site} ({added.level} under {added.parent}, index {added.index})")
    rows = [(added.site, purpose, net) for purpose, net in added.subnets.items()]
    rows += [(r["name"], "loopback", r["loopback"]) for r in added.routers]
    rows += [(r["name"], "link", link) for r in added.routers for link in r["links"]]
    rows += [(h["name"], "mgmt / server", f"{h['mgmt_ip']} / {h['server_ip'] or '-'}") for h in added.hosts]
    common.table("Allocated", ["what", "purpose", "address"], rows)


@inventory_group.command("add-agency")
@click.option("--code", required=True, help="The inventory's key for it: lower-case letters, digits and '-'.")
@click.option("--name", required=True, help="Full name with diacritics, e.g. 'Sở Nội vụ'.")
@click.option("--short", required=True, help="Short name, one DNS label: its portal is SHORT.<province domain>.")
@click.option("--site", required=True, help="The site it sits at (its level is the site's).")
@click.option("--portal", default=None, help="Its portal's host name, when not SHORT.<province domain>.")
@click.option("--mail-domain", default=None, help="Its own mail domain (default: the province's shared one).")
@click.option("--unconfirmed", is_flag=True, help="The name is not yet checked against the official list.")
@common.inventory_option
@common.json_option
def add_agency_cmd(code: str, name: str, short: str, site: str, portal: str | None, mail_domain: str | None,
                   unconfirmed: bool, inventory_path: str, as_json: bool) -> None:
    """Append an agency to the inventory file, keeping its comments and layout; the file is validated before
    it is written (an invalid result writes nothing). Then `egov deploy --limit web` brings its portal up."""
    from dataclasses import asdict

    from inventory.edit import add_agency

    added = add_agency(inventory_path, code=code, name=name, short=short, site=site, portal=portal,
                       mail_domain=mail_domain, confirmed=not unconfirmed)
    if as_json:
        common.emit_json(asdict(added))
        return
    if not added.changed:
        click.echo(f"{inventory_path}: agency {added.code} is already there; nothing changed")
        return
    click.echo(f"{inventory_path}: added agency {added.code} ({added.name}, {added.level} site {added.site}): "
               f"portal https://{added.portal}/, mail @{added.mail_domain}")
