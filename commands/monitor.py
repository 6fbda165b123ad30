"""`egov monitor`: generate the monitoring configuration, show the on-call status, run the exporter."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from commands import common

if TYPE_CHECKING:
    from monitoring.status import StatusReport

STATUS_HELP = "Per site: targets up and down, firing alerts by severity, WAN reachability. Exit 1 on a critical alert."


@click.group("monitor", cls=common.EgovGroup)
def monitor_group() -> None:
    """Prometheus, Alertmanager and the egov exporter, all derived from the inventory."""


@monitor_group.command("config")
@common.inventory_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="build/monitoring", show_default=True,
              callback=common.output_path("dir"),
              help="Directory to write into; one subdirectory per monitoring server.")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Validate with promtool check config and amtool check-config.")
@common.json_option
def config_cmd(inventory_path: str, out_dir: str, check: bool, as_json: bool) -> None:
    """Generate Prometheus, Alertmanager, blackbox and egov exporter configuration.

    Writes only files that differ, so a second run says "no changes".
    """
    from inventory import load_inventory
    from monitoring.config import check as check_dir
    from monitoring.config import generate, write_tree

    inv = load_inventory(inventory_path)
    report: dict[str, dict[str, Any]] = {}
    for name, server in generate(inv).items():
        directory = Path(out_dir) / name
        changed = write_tree(server.files, directory)
        checks = check_dir(directory) if check else []
        report[name] = {"directory": str(directory), "files": len(server.files), "changed": changed,
                        "checked": checks}
    if as_json:
        common.emit_json(report)
        return
    common.table("Monitoring configuration", ["server", "directory", "files", "changed", "checked"], [
        [name, r["directory"], r["files"], ", ".join(r["changed"]) or "no changes", "ok" if r["checked"] else "-"]
        for name, r in report.items()
    ])


@monitor_group.command("status", help=STATUS_HELP)
@common.inventory_option
@click.option("--site", default=None, help="Only this site.")
@click.option("--prometheus", default=None, metavar="URL",
              help="Prometheus to ask (default: the province's, from the inventory).")
@click.option("--alertmanager", default=None, metavar="URL", help="Alertmanager to ask (default: the province's).")
@click.option("--watch", is_flag=True, help="Refresh until interrupted.")
@click.option("--interval", type=click.FloatRange(1), default=10, show_default=True,
              help="Seconds between refreshes with --watch.")
@common.json_option
def status_cmd(inventory_path: str, site: str | None, prometheus: str | None, alertmanager: str | None,
               watch: bool, interval: float, as_json: bool) -> None:
    from inventory import load_inventory
    from monitoring.status import collect_status
    from monitoring.targets import build_plan

    inv = load_inventory(inventory_path)
    if site and site not in inv.sites:
        raise click.BadParameter(f"no site '{site}' in {inventory_path}", param_hint="--site")
    if prometheus is None or alertmanager is None:
        from egov.connection import require_lab_up

        require_lab_up(inv)  # the servers' addresses come from the inventory
    top = build_plan(inv).top[0]
    prometheus = prometheus or top.url()
    alertmanager = alertmanager or top.alertmanager_url()
    order = list(inv.sites)
    while True:
        report = collect_status(prometheus, alertmanager, site=site, order=order)
        if watch and not as_json:
            click.clear()
        _show(report, as_json)
        if not watch:
            break
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            break
    common.exit_for(report.critical)


def _show(report: StatusReport, as_json: bool) -> None:
    if as_json:
        common.emit_json(report.to_dict())
        return
    wan = {True: "up", False: "DOWN", None: "-"}
    common.table(f"Status from {report.prometheus}", ["site", "level", "up", "down", "critical", "warning", "WAN",
                                                      "down targets"], [
        [s.site, s.level, s.targets_up, s.targets_down, s.alerts.get("critical", 0), s.alerts.get("warning", 0),
         wan[s.wan], ", ".join(s.down)] for s in report.sites
    ])
    if report.alerts:
        common.table("Firing alerts", ["severity", "alert", "site", "instance", "summary"], [
            [a["severity"], a["alertname"], a["site"], a["instance"], a["summary"]] for a in report.alerts
        ])
    click.echo("CRITICAL alerts firing" if report.critical else "no critical alert")


@monitor_group.command("exporter")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default="/etc/egov/exporter.yml",
              show_default=True, help="The exporter's configuration (written by `egov monitor config`).")
@click.option("--listen", default=None, metavar="HOST:PORT", help="Override the listen address of the config.")
@click.option("-i", "--inventory", "inventory_path", type=click.Path(dir_okay=False), default=None,
              help="Also collect router drift from this inventory's routers (network diff, in the background).")
@common.secrets_option
def exporter_cmd(config_path: str, listen: str | None, inventory_path: str | None, secrets_path: str | None) -> None:
    """Run the egov exporter in the foreground (the deployed service runs the same code)."""
    from dataclasses import replace

    from monitoring.exporter.config import load_config
    from monitoring.exporter.server import serve
    from monitoring.exporter.sources import Sources

    config = load_config(config_path)
    sources = Sources()
    if inventory_path:
        from inventory import load_inventory
        from network.drift import network_drift

        inv = load_inventory(inventory_path)
        sources = Sources(drift=lambda: network_drift(inv, secrets_path=secrets_path))
    serve(replace(config, listen=listen) if listen else config, sources)


@monitor_group.command("drift")
@common.inventory_option
@common.limit_option
@common.secrets_option
@click.option("--out", "out_file", type=click.Path(dir_okay=False), required=True, callback=common.output_path("file"),
              help="The file the egov exporter reads (monitoring__drift_file).")
@common.json_option
def drift_cmd(inventory_path: str, limit: tuple[str, ...], secrets_path: str | None, out_file: str,
              as_json: bool) -> None:
    """Count each router's differing lines (running vs intended) and write them for the exporter.

    Meant for a timer: the exporter never logs into a router itself.
    """
    from inventory import load_inventory
    from network.drift import network_drift, write_drift_file

    drift = network_drift(load_inventory(inventory_path), limit, secrets_path)
    write_drift_file(drift, out_file)
    if as_json:
        common.emit_json(drift)
        return
    common.table(f"Router drift -> {out_file}", ["router", "differing lines"], sorted(drift.items()))
