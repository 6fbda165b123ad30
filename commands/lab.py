"""`egov lab`: bring the lab (containers for the inventory's hosts and routers) up, down, and look at it."""

from __future__ import annotations

import os
from typing import Any

import click

from commands import common

UP_HELP = """Build the lab from the inventory: Docker engine, images, internal networks, package proxy,
one container per host and router, WAN links, SSH key and known_hosts. Idempotent: a second
call changes nothing and says so.

--routers-only builds the WAN alone: every router of the inventory and its links, no hosts
(a whole province: write its lab copy with `egov lab frr-copy` first; docs/lab.md)."""

FRR_COPY_HELP = """Write a lab copy of the province inventory SOURCE to OUT: the same sites, routers, links and
hosts, every router FRR, every address moved into --supernet (so the copy runs beside any other lab),
OSPF on the lab's fast timers, `environment: lab`. Then:

\b
  EGOV_LAB_NAME=qn egov lab up -i OUT --routers-only
  EGOV_LAB_NAME=qn egov net push -i OUT && EGOV_LAB_NAME=qn egov net check -i OUT"""


def _lab(inventory_path: str, routers_only: bool | None = None) -> Any:
    from inventory import load_inventory
    from lab import Lab

    return Lab(load_inventory(inventory_path), routers_only=routers_only)


def _progress() -> Any:
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False)
    return lambda message: console.print(f"[dim]lab[/dim] {escape(message)}", markup=True, soft_wrap=True)


@click.group("lab", cls=common.EgovGroup)
def lab_group() -> None:
    """The lab: real Debian hosts and FRR routers in containers, built from an inventory."""


@lab_group.command("up", help=UP_HELP)
@common.inventory_option
@click.option("--routers-only", is_flag=True, help="Only the routers and their WAN links, no hosts.")
@common.json_option
def up_cmd(inventory_path: str, routers_only: bool, as_json: bool) -> None:
    lab = _lab(inventory_path, routers_only)
    report = lab.up(on_progress=_progress())
    if as_json:
        common.emit_json(report.to_dict())
    else:
        failed = {name: r for name, r in report.nodes.items() if r.failed}
        for name, result in failed.items():
            click.echo(f"{name}: FAILED: {result.error}", err=True)
        if report.nodes.failed:
            click.echo(f"lab {report.name}: {len(failed)} of {len(report.nodes)} nodes failed in {report.seconds} s")
        elif not report.changed:
            click.echo(f"lab {report.name}: nothing changed ({len(report.nodes)} nodes up) in {report.seconds} s")
        else:
            changed = report.nodes.changed_targets
            click.echo(f"lab {report.name}: {len(report.changes)} lab changes, {len(changed)} nodes changed "
                       f"in {report.seconds} s")
            for change in report.changes:
                click.echo(f"  {change}")
        click.echo(f"state: {lab.state_dir}  (egov lab ssh NAME, egov lab status)")
    common.exit_for(report.nodes.failed)


@lab_group.command("status")
@common.inventory_option
@common.json_option
def status_cmd(inventory_path: str, as_json: bool) -> None:
    """Each node of the lab: its container, its addresses and whether SSH answers."""
    result = _lab(inventory_path).status()
    if as_json:
        common.emit_json(result.to_dict())
    else:
        common.table(None, ["node", "kind", "container", "state", "addresses", "ssh"],
                     [[name, r.data["kind"], r.data["container"], r.data["state"], ", ".join(r.data["addresses"]),
                       "yes" if r.data["ssh"] else "no"] for name, r in result.items()])
    common.exit_for(result.failed)


@lab_group.command("ssh", context_settings={"ignore_unknown_options": True})
@common.inventory_option
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh_cmd(inventory_path: str, name: str, command: tuple[str, ...]) -> None:
    """Open SSH to node NAME with the lab key and known_hosts (strict host-key checking).

    Hosts log in as root; routers as the router user, straight into vtysh.
    """
    lab = _lab(inventory_path)
    argv = lab.ssh_argv(name, list(command))
    os.execvp(argv[0], argv)


@lab_group.command("down")
@common.inventory_option
@common.json_option
def down_cmd(inventory_path: str, as_json: bool) -> None:
    """Remove the lab: containers, WAN links, networks, firewall rules and its apt-cacher-ng.

    The state directory (key, secrets, package cache) stays, so the next `lab up` is fast.
    """
    report = _lab(inventory_path).down(on_progress=_progress())
    if as_json:
        common.emit_json(report.to_dict())
    elif report.removed:
        click.echo(f"lab {report.name}: removed {len(report.removed)} items in {report.seconds} s; nothing left")
    else:
        click.echo(f"lab {report.name}: nothing to remove")


@lab_group.command("frr-copy", help=FRR_COPY_HELP)
@click.argument("source", type=click.Path(dir_okay=False), callback=common.remember_input("inventory"))
@click.argument("out", type=click.Path(dir_okay=False), callback=common.output_path("file"))
@click.option("--supernet", required=True, metavar="CIDR",
              help="The copy's supernet (as long a prefix as the source's).")
@common.json_option
def frr_copy_cmd(source: str, out: str, supernet: str, as_json: bool) -> None:
    from lab.frr_copy import write_frr_copy

    report = write_frr_copy(source, out, supernet)
    if as_json:
        common.emit_json(report.to_dict())
    else:
        click.echo(f"{report.path}: lab copy of {report.source} in {report.supernet}: {report.routers} FRR routers, "
                   f"{report.links} WAN links, {report.hosts} hosts")
