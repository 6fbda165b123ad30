"""`egov deploy` (base and roles on hosts, through pyinfra) and `egov node up SITE`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

import click
from rich.markup import escape

from commands import common

if TYPE_CHECKING:
    from deploys.runner import Progress
    from egov.results import RunResult

DRY_HELP = "Prepare only: show what would change on each host, change nothing (pyinfra dry run)."
DIFF_HELP = "Show the file differences (secrets blanked) for each host."
PLAN_HELP = ("Print the steps the deploy would run, what each waits for and why, and the rolling groups; "
             "contact no host.")
SERIAL_HELP = ("Hosts of a redundant group (db, lb/web, dns/ntp, app pairs) changed at once, each batch "
               "checked healthy first.")
MAX_FAIL_HELP = "Share of a redundant group's hosts that may fail before the rest of it is not started (e.g. 25%)."


def _percent(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    number = value[:-1] if value.endswith("%") else value
    if not number.isdigit() or not 0 <= int(number) <= 100:
        raise click.BadParameter(f"expected a percentage from 0% to 100%, got {value!r}")
    return int(number)


class _Display:
    """Progress per host (rich): a bar of its operations and the one that just finished."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.fields[host]:<14}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.description}"), transient=False)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Self:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: Progress) -> None:
        if not self.progress.console.is_terminal:
            # a log (CI, a pipe) gets no live bars: one line per host milestone instead
            line = {"plan": f"{event.total} operations prepared", "done": event.status or "done",
                    "health": "healthy" if event.status == "ok" else f"UNHEALTHY: {event.op}"}.get(event.kind)
            if event.kind == "op" and event.status == "failed":
                line = f"FAILED {event.op}"
            if line:
                self.progress.console.print(f"{event.host}: {line}", highlight=False, markup=False)
        if event.host not in self.tasks:
            self.tasks[event.host] = self.progress.add_task("connecting", host=event.host, total=None)
        task = self.tasks[event.host]
        if event.kind == "plan":
            self.progress.update(task, total=event.total, description="prepared")
        elif event.kind == "op":
            mark = {"changed": "[yellow]changed[/]", "failed": "[red]FAILED[/]"}.get(event.status, "ok")
            self.progress.update(task, advance=1, description=f"{mark} {event.op}")
        elif event.kind == "health":
            mark = "[green]healthy[/]" if event.status == "ok" else f"[red]UNHEALTHY[/] {escape(event.op)}"
            self.progress.update(task, description=mark)
        elif event.kind == "done":
            if event.status == "failed":
                self.progress.update(task, description="[red]failed[/]")
            else:  # a host with nothing to change skips execution: its bar completes here
                self.progress.update(task, completed=self.progress.tasks[task].total, description="[green]done[/]")


def _summary(result: RunResult, dry: bool, diff: bool) -> None:
    if diff:
        for name, r in result.items():
            if r.diff:
                click.echo(f"--- {name}\n{r.diff}")
    rows = []
    for name, r in result.items():
        status = "FAILED" if r.failed else ("would change" if dry and r.changed else "changed" if r.changed else "ok")
        rows.append((name, status, r.data.get("changes", 0), r.data.get("ops", 0), r.error))
    title = "deploy (dry run)" if dry else "deploy"
    common.table(title, ("host", "status", "changes", "operations", "error"), rows)
    total = sum(r.data.get("changes", 0) for r in result.values())
    click.echo(f"{len(result)} hosts, {total} changes, {len(result.failed_targets)} failed")


@click.command("deploy")
@common.inventory_option
@common.limit_option
@click.option("--dry", is_flag=True, help=DRY_HELP)
@click.option("--diff", is_flag=True, help=DIFF_HELP)
@click.option("--plan", "show_plan", is_flag=True, help=PLAN_HELP)
@click.option("--serial", type=click.IntRange(min=1), default=1, show_default=True, help=SERIAL_HELP)
@click.option("--max-fail", "max_fail", default="0%", show_default=True, callback=_percent, help=MAX_FAIL_HELP)
@common.secrets_option
@common.json_option
def deploy_cmd(inventory_path: str, limit: tuple[str, ...], dry: bool, diff: bool, show_plan: bool, serial: int,
               max_fail: int, secrets_path: str | None, as_json: bool) -> None:
    """Apply base and each host's roles (pyinfra) to the inventory's hosts.

    Each host waits only for what its roles need (the mirror for apt, the time servers, the
    databases for the applications); the rest runs at once (--plan shows it). The members of a
    redundant pair in service are changed one after the other, each checked healthy first. One
    deploy at a time per host. A host that is down or fails is reported; the hosts that do not
    need it finish. Ctrl-C stops starting operations and reports the hosts left mid-way.

    Exit 0 when every host is deployed, 1 when any failed (or another deploy holds one), 2 on bad
    input (a missing secret among them, before any host is touched).
    """
    from deploys.runner import Rolling, plan_deploy, run_deploy
    from inventory import load_inventory

    inv = load_inventory(inventory_path)
    rolling = Rolling(serial=serial, max_fail_percent=max_fail)
    if show_plan:
        plan = plan_deploy(inv, limit, rolling)
        if as_json:
            common.emit_json(plan.to_dict())
        else:
            click.echo(plan.text())
        return
    if as_json:
        result = run_deploy(inv, limit, dry=dry, diff=diff, secrets=secrets_path, rolling=rolling)
        common.emit_json(result.to_dict())
    else:
        with _Display() as display:
            result = run_deploy(inv, limit, dry=dry, diff=diff, secrets=secrets_path, on_progress=display,
                                rolling=rolling)
        _summary(result, dry, diff)
    common.exit_for(result.failed)


@click.group("node", cls=common.EgovGroup)
def node_group() -> None:
    """Bring a site's node into service."""


@node_group.command("up")
@click.argument("site")
@common.inventory_option
@common.secrets_option
@common.json_option
def node_up_cmd(site: str, inventory_path: str, secrets_path: str | None, as_json: bool) -> None:
    """Provision SITE's hosts, configure its routers, register it in monitoring, verify it.

    Prints one verdict: READY when every step passed, else the step that failed. Exit 1 unless READY.
    """
    from inventory import load_inventory
    from workflows.node_up import node_up

    inv = load_inventory(inventory_path)
    if as_json:
        report = node_up(inv, site, secrets=secrets_path)
        common.emit_json(report.to_dict())
    else:
        with _Display() as display:
            report = node_up(inv, site, secrets=secrets_path, on_progress=display)
        common.table(f"node up {site}", ("step", "status", "detail"),
                     [(s.name, s.status, s.detail) for s in report.steps])
        click.echo(f"{site}: {report.verdict}")
    common.exit_for(not report.ready)
