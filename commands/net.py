"""`egov net`: render, diff, push, back up, roll back and check the WAN routers."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from commands import common

if TYPE_CHECKING:
    from inventory.model import Inventory

backup_dir_option = click.option(
    "--backup-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    callback=common.output_path("dir"),
    help="Where running-configuration backups go (default: $EGOV_NET_BACKUPS, the lab's state dir, "
         "or ./backups/network).",
)
# unlike hosts, devices mostly wait on their sessions: by default one worker per device (network.push)
device_workers_option = click.option("--workers", type=click.IntRange(1, 256), default=None,
                                     help="How many devices to work on at once (default: one per device, "
                                          "at most 50).")
timeout_option = click.option("--connect-timeout", type=click.FloatRange(1, 300), default=10.0, show_default=True,
                              help="Seconds to wait for a device's SSH login.")


def routers_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options of every command that logs in to the routers of the inventory (--limit narrows them)."""
    # applied last to first, so that --help lists them in this order
    for option in reversed((common.inventory_option, common.limit_option, common.secrets_option,
                            device_workers_option, timeout_option)):
        command = option(command)
    return command


def _options(inv: Inventory, secrets_path: str | None, backup_dir: Path | None, **kwargs: Any) -> Any:
    from network.push import Options

    return Options.for_inventory(inv, secrets_path, backup_dir, **kwargs)


def _load(inventory_path: str) -> Any:
    from inventory import load_inventory

    return load_inventory(inventory_path)


def _report(title: str, result: Any, as_json: bool, show_diff: bool = False, plan: Any = None,
            stop: Any = None) -> None:
    """Print ``result`` (with the rollout ``plan`` in --json) and exit: 1 when anything failed, 128 + the
    signal's number when a ``stop`` was requested (the run ended early: see its "not started" devices)."""
    if as_json:
        common.emit_json({**result.to_dict(), **({"plan": plan.to_dict()} if plan is not None else {})})
    else:
        if show_diff:
            for name, r in result.items():
                if r.diff:
                    click.echo(f"--- {name}: {r.data.get('lines', 0)} line(s) to send")
                    click.echo(r.diff)
                    problems = r.data.get("guard") or []
                    click.echo("+++ lock-out guard: " + ("REFUSED" if problems else "ok"))
                    for problem in problems:
                        click.echo(f"+++   {problem}")
                write_only = r.data.get("write_only") or []
                if write_only:
                    click.echo(f"+++ {name}: sent only if absent on the device "
                               "(write-only: the device does not print it):")
                    for line in write_only:
                        click.echo(f"+++   {line}")
        rows = [(name, r.data.get("status", "failed" if r.failed else "ok"), r.data.get("lines", ""),
                 r.data.get("seconds", ""), r.error or r.data.get("detail") or r.data.get("backup", ""))
                for name, r in result.items()]
        common.table(title, ["device", "status", "lines", "seconds", "detail"], rows)
        failed = len(result.failed_targets)
        click.echo(f"{len(result)} device(s): {len(result.changed_targets)} changed, {failed} failed")
    if stop is not None and stop.requested:
        click.echo(f"interrupted by {stop.name}: every device above is in its final state", err=True)
        raise SystemExit(stop.exit_code)
    common.exit_for(result.failed)


def _show_plan(plan: Any) -> None:
    for index, names in enumerate(plan.batches):
        click.echo(f"batch {plan.label(index)}: {', '.join(names)}")
    canary = " (the canary: any)" if plan.canary else ""
    click.echo(f"the rollout stops after a batch with more than {plan.max_fail} failure(s){canary}")


def _left_unfinished(opts: Any) -> Callable[[int], None]:
    """The second Ctrl-C: say which devices are left to their dead man's switch, and end the process now
    (the worker threads sit in device sessions; ``os._exit`` is the only exit that does not wait for them)."""

    def again(signum: int) -> None:
        in_flight = dict(opts.in_flight)
        sent = sorted(name for name, phase in in_flight.items() if phase != "prepare")
        untouched = sorted(name for name, phase in in_flight.items() if phase == "prepare")
        click.echo(f"\nsecond interrupt: stopping now. Left to their dead man's switch (changed, not confirmed: "
                   f"the device reverts by itself, or comes back from its saved configuration on reload): "
                   f"{', '.join(sent) or 'none'}. Being read only (nothing sent): {', '.join(untouched) or 'none'}. "
                   "Run `egov net push` again to converge.", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + signum)

    return again


def _on_routers(title: str, action: Callable[[Any, Any, Any], Any], inventory_path: str, limit: tuple[str, ...],
                secrets_path: str | None, workers: int | None, connect_timeout: float, as_json: bool,
                backup_dir: Path | None = None, show_diff: bool = False) -> None:
    """Run ``action`` (``network.push.diff``, ``check``...) on the routers and report as ``title``."""
    from network.push import routers_for

    inv = _load(inventory_path)
    opts = _options(inv, secrets_path, backup_dir, workers=workers, connect_timeout=connect_timeout)
    _report(title, action(inv, routers_for(inv, limit), opts), as_json, show_diff=show_diff)


@click.group("net", cls=common.EgovGroup)
def net_group() -> None:
    """The WAN routers: render, diff, push, backup, rollback, check (see docs/network.md)."""


@net_group.command("render")
@common.inventory_option
@common.limit_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              callback=common.output_path("dir"), help="Write <router>.cfg files here instead of printing.")
@common.secrets_option
@common.json_option
def render_cmd(inventory_path: str, limit: tuple[str, ...], out: Path | None, secrets_path: str | None,
               as_json: bool) -> None:
    """Render each router's intended configuration from the inventory (no device is contacted).
    Printed, the secrets are masked; the files --out writes hold them and are mode 0600."""
    from egov.secrets import Secrets, redact
    from network.push import routers_for
    from network.render import render_all, write

    inv = _load(inventory_path)
    configs = render_all(inv, routers_for(inv, limit), Secrets(secrets_path))
    if out is None:
        configs = {name: redact(text) for name, text in configs.items()}
    if out is not None:
        paths = write(configs, out)
        if as_json:
            common.emit_json({name: str(path) for name, path in zip(configs, paths, strict=True)})
        else:
            click.echo(f"{len(paths)} configuration(s) written to {out}")
    elif as_json:
        common.emit_json(configs)
    else:
        for name, text in configs.items():
            click.echo(f"### {name}\n{text}")


@net_group.command("diff")
@routers_options
@click.option("--running", "running_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=None, help="Read each router's running configuration from DIR/<router>.cfg (a backup, a "
                                 "file from the field) instead of the device: nothing is contacted.")
@click.option("--user", default=None, metavar="LOGIN",
              help="With --running: the login the push would use, which the guard protects "
                   "(default: the inventory's router user).")
@click.option("--source", default=None, metavar="ADDRESS",
              help="With --running: the address the push would come from (default: the control machine's).")
@common.json_option
def diff_cmd(inventory_path: str, limit: tuple[str, ...], secrets_path: str | None, workers: int | None,
             connect_timeout: float, running_dir: Path | None, user: str | None, source: str | None,
             as_json: bool) -> None:
    """Running versus intended, as the exact lines a push would send, with the lock-out guard's
    verdict. Changes nothing; with --running DIR, contacts nothing."""
    if running_dir is None:
        from network.push import diff

        _on_routers("egov net diff", diff, inventory_path, limit, secrets_path, workers, connect_timeout, as_json,
                    show_diff=True)
        return
    from ipaddress import IPv4Address

    from egov.connection import connection_for
    from egov.errors import InputError
    from network.push import diff_offline, routers_for

    inv = _load(inventory_path)
    try:
        origin = IPv4Address(source) if source else None
    except ValueError:
        raise InputError(f"--source {source}: not an IPv4 address") from None
    login = user or connection_for(inv.path, inv.environment).router_user
    result = diff_offline(inv, routers_for(inv, limit), running_dir, login, origin)
    _report(f"egov net diff --running {running_dir}", result, as_json, show_diff=True)


@net_group.command("push")
@routers_options
@backup_dir_option
@click.option("--dry-run", is_flag=True, help="Stop after the diff and the lock-out guard; send nothing.")
@click.option("--check-timeout", type=click.FloatRange(1, 3600), default=60.0, show_default=True,
              help="Seconds the OSPF neighbours have to come up Full before the change is rolled back.")
@click.option("--revert-window", type=click.FloatRange(10, 86400), default=None,
              help="Seconds each device's own revert timer (its dead man's switch) waits for the confirmation "
                   "(default: sized to the run: 30 s per round of workers, the OSPF settle, --check-timeout "
                   "and 60 s; IOS and Junos round it up to whole minutes).")
@click.option("--allow-no-revert", is_flag=True,
              help="Push to a platform without a revert timer (VRP V5) a change that touches its management "
                   "path (refused otherwise: a mistake there would need a console).")
@click.option("--batch", default=None, metavar="N|N%",
              help="Routers changed at once, a number or a percentage of the run (default: network__rollout; "
                   "never both members of a redundant pair).")
@click.option("--max-fail", default=None, metavar="N|N%",
              help="Failures a batch may have (a number, or a percentage of the batch) before the rollout "
                   "stops, leaving the later batches untouched (default: network__rollout).")
@click.option("--canary/--no-canary", default=None,
              help="Start with one router alone, which may not fail (default: network__rollout).")
@common.json_option
def push_cmd(inventory_path: str, limit: tuple[str, ...], secrets_path: str | None, workers: int | None,
             connect_timeout: float, backup_dir: Path | None, dry_run: bool, check_timeout: float,
             revert_window: float | None, allow_no_revert: bool, batch: str | None, max_fail: str | None,
             canary: bool | None, as_json: bool) -> None:
    """Push the intended configuration safely: backup, remediation only, lock-out guard, each
    device's revert timer armed before the first line, post-checks, automatic restore on failure,
    confirm and save only when the checks pass; batch by batch (staged rollout), under a lock per
    router. Ctrl-C starts nothing new and confirms or restores what is in flight; a second Ctrl-C
    leaves those to their dead man's switch."""
    from egov.interrupt import Stop, stop_on_signals
    from network import rollout
    from network.push import push, routers_for

    inv = _load(inventory_path)
    routers = routers_for(inv, limit)
    plan = rollout.plan_for(inv, routers, batch=batch, max_fail=max_fail, canary=canary)
    opts = _options(inv, secrets_path, backup_dir, workers=workers, connect_timeout=connect_timeout,
                    check_timeout=check_timeout, revert_window=revert_window, allow_no_revert=allow_no_revert,
                    stop=Stop())
    if not as_json:
        _show_plan(plan)
    with stop_on_signals(opts.stop, _left_unfinished(opts)):
        result = push(inv, routers, opts, dry_run=dry_run, plan=plan)
    _report("egov net push" + (" (dry run)" if dry_run else ""), result, as_json, show_diff=dry_run,
            plan=plan, stop=opts.stop)


@net_group.command("backup")
@routers_options
@backup_dir_option
@common.json_option
def backup_cmd(inventory_path: str, limit: tuple[str, ...], secrets_path: str | None, workers: int | None,
               connect_timeout: float, backup_dir: Path | None, as_json: bool) -> None:
    """Back up the running configuration of the routers (timestamped, in a git history)."""
    from network.push import backup

    _on_routers("egov net backup", backup, inventory_path, limit, secrets_path, workers, connect_timeout, as_json,
                backup_dir=backup_dir)


@net_group.command("rollback")
@click.argument("device")
@common.inventory_option
@common.secrets_option
@timeout_option
@backup_dir_option
@click.option("--to", "to", metavar="BACKUP", default=None,
              help="A backup file, its name or a timestamp prefix (default: the newest backup).")
@common.json_option
def rollback_cmd(device: str, inventory_path: str, secrets_path: str | None, connect_timeout: float,
                 backup_dir: Path | None, to: str | None, as_json: bool) -> None:
    """Put a backup back on DEVICE (the running configuration is backed up first)."""
    from egov.errors import InputError
    from network.push import rollback

    inv = _load(inventory_path)
    if device not in inv.routers:
        raise InputError(f"{inv.path}: no router named '{device}'")
    opts = _options(inv, secrets_path, backup_dir, connect_timeout=connect_timeout)
    _report("egov net rollback", rollback(inv, inv.routers[device], opts, to), as_json)


@net_group.command("check")
@routers_options
@common.json_option
def check_cmd(inventory_path: str, limit: tuple[str, ...], secrets_path: str | None, workers: int | None,
              connect_timeout: float, as_json: bool) -> None:
    """Check the state the inventory implies: OSPF neighbours Full, a route to every loopback."""
    from network.push import check

    _on_routers("egov net check", check, inventory_path, limit, secrets_path, workers, connect_timeout, as_json)
