"""`egov monitor`: generate the monitoring configuration, show the on-call status, run the exporter."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from commands import common

if TYPE_CHECKING:
    from monitoring.status import StatusReport

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


STATUS_HELP = """Each site's state, failing sites first, and every firing alert.

Sites in trouble are listed worst first (sites whose alerts are all inhibited by a failing
parent are folded under it); every other site is folded into one line. Each alert shows how
long it has fired, its runbook, and whether it is silenced (by whom) or inhibited (by which
alert). --site S shows S's own state even when a parent's alert inhibits S's alerts.

\b
Exit codes (as a Nagios check):
  0  OK        nothing fires (silenced alerts do not count)
  1  WARNING   a warning fires, or a target is down with no alert yet
  2  CRITICAL  a critical alert fires (inhibited ones included), or a site is unreachable
  3  UNKNOWN   Prometheus or Alertmanager cannot be asked

With --watch the view refreshes until Ctrl-C; when a server cannot be asked it says so and
keeps showing the last good read with its time, and carries on.
"""


def _servers(inventory_path: str, site: str | None, prometheus: str | None,
             alertmanager: str | None, need_prometheus: bool = True) -> tuple[Any, str, str, Any]:
    """The inventory, the Prometheus and Alertmanager to ask (default: the province's), and how
    to ask them (``_oncall_http`` for HTTPS)."""
    from inventory import load_inventory
    from monitoring.targets import build_plan

    inv = load_inventory(inventory_path)
    if site and site not in inv.sites:
        raise click.BadParameter(f"no site '{site}' in {inventory_path}", param_hint="--site")
    if (need_prometheus and prometheus is None) or alertmanager is None:
        from egov.connection import require_lab_up

        require_lab_up(inv)  # the servers' addresses come from the inventory
        top = build_plan(inv).top[0]
        prometheus, alertmanager = prometheus or top.url(), alertmanager or top.alertmanager_url()
    from monitoring import api

    https = any(url.startswith("https://") for url in (prometheus or "", alertmanager))
    return inv, prometheus or "", alertmanager, _oncall_http(inv) if https else api.http_json


def _oncall_http(inv: Any) -> Any:
    """Ask as user ``oncall`` (its password: the secret ``monitoring_oncall_password``, from
    $EGOV_SECRET_MONITORING_ONCALL_PASSWORD or $EGOV_SECRETS_FILE; a lab's generated one), the
    servers' certificates checked against the platform CA (docs/monitoring.md "TLS and authentication")."""
    from deploys.context import DeployContext
    from deploys.pki import control_ca_file
    from egov.secrets import Secrets
    from monitoring import api
    from monitoring.webconfig import ONCALL_USER, SECRETS

    password = DeployContext.of(inv, Secrets()).secret(SECRETS[ONCALL_USER])
    return api.client(control_ca_file(inv, inv.hosts_with_role("monitoring")[0].vars), ONCALL_USER, password)


prometheus_option = click.option("--prometheus", default=None, metavar="URL",
                                 help="Prometheus to ask (default: the province's, from the inventory).")
alertmanager_option = click.option("--alertmanager", default=None, metavar="URL",
                                   help="Alertmanager to ask (default: the province's).")


@monitor_group.command("status", help=STATUS_HELP)
@common.inventory_option
@click.option("--site", default=None, help="Only this site (its own state, even when a parent inhibits it).")
@prometheus_option
@alertmanager_option
@click.option("--watch", is_flag=True, help="Refresh until interrupted; survives a server restart.")
@click.option("--interval", type=click.FloatRange(1), default=10, show_default=True,
              help="Seconds between refreshes with --watch.")
@common.json_option
def status_cmd(inventory_path: str, site: str | None, prometheus: str | None, alertmanager: str | None,
               watch: bool, interval: float, as_json: bool) -> None:
    from monitoring.api import Unreachable
    from monitoring.status import EXIT_CODES, collect_status

    inv, prometheus, alertmanager, http = _servers(inventory_path, site, prometheus, alertmanager)
    order = list(inv.sites)
    last: StatusReport | None = None
    code = EXIT_CODES["unknown"]
    try:
        while True:
            error: Unreachable | None = None
            try:
                last = collect_status(prometheus, alertmanager, site=site, order=order, http=http)
            except Unreachable as exc:  # UNKNOWN (exit 3), said like any other state; --watch carries on
                error = exc
            code = EXIT_CODES["unknown"] if error or last is None else last.exit_code
            _show(last, site, error, code, watch, as_json)
            if not watch:
                break
            time.sleep(interval)
    except KeyboardInterrupt:  # the end of --watch
        pass
    if code:
        raise SystemExit(code)


def _show(report: StatusReport | None, site: str | None, error: Any, code: int, watch: bool, as_json: bool) -> None:
    if as_json:
        unknown = {"state": "unknown", "exit_code": code, "error": str(error)} if error else {}
        common.emit_json({**(report.to_dict() if report else {}), **unknown})
        return
    from commands.monitor_view import show_status

    if watch:
        click.clear()
    show_status(report, site, error)


def _matchers(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    from egov.errors import MonitoringError
    from monitoring.silence import parse_matcher

    for value in values:
        try:
            parse_matcher(value)
        except MonitoringError as exc:
            raise click.BadParameter(str(exc)) from None
    return values


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from egov.errors import MonitoringError
    from monitoring.silence import parse_duration

    try:
        parse_duration(value)
    except MonitoringError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _author() -> str:
    import getpass

    return os.environ.get("EGOV_ONCALL_NAME") or getpass.getuser()


author_option = click.option("--author", default=_author, show_default="$EGOV_ONCALL_NAME or your login name",
                             help="Who silences (recorded in Alertmanager).")


def _show_silence(silence: Any, what: str, as_json: bool) -> None:
    if as_json:
        common.emit_json(silence.to_dict())
        return
    click.echo(f"{what} {silence.id} until {silence.ends_at} by {silence.created_by}: {silence.comment}")
    if silence.covers:
        click.echo(f"it silences {silence.covers} firing alert(s)")
    else:
        click.echo("no firing alert matches it now (a typo? it still holds for alerts to come)", err=True)
    click.echo(silence.id)


@monitor_group.command("silence")
@common.inventory_option
@alertmanager_option
@click.option("-m", "--matcher", "matchers", multiple=True, required=True, callback=_matchers,
              metavar="NAME=VALUE",
              help="Which alerts: name=value, name!=value, name=~regex, name!~regex (repeatable).")
@click.option("--duration", default="2h", show_default=True, callback=_duration, help="Like 30m, 2h, 1d.")
@click.option("--comment", required=True, help="Why (shown beside every silenced alert).")
@author_option
@common.json_option
def silence_cmd(inventory_path: str, alertmanager: str | None, matchers: tuple[str, ...],
                duration: str, comment: str, author: str, as_json: bool) -> None:
    """Silence the alerts the matchers select, through Alertmanager's API; prints the silence id.

    Exit 3 when Alertmanager cannot be asked.
    """
    from monitoring.silence import create_silence

    _, _, alertmanager, http = _servers(inventory_path, None, None, alertmanager, need_prometheus=False)
    _show_silence(create_silence(alertmanager, list(matchers), duration, comment, author, http=http), "silence",
                  as_json)


@monitor_group.command("ack")
@click.argument("alertname")
@common.inventory_option
@alertmanager_option
@click.option("--site", default=None, help="Only this site's alert.")
@click.option("--instance", default=None, help="Only this instance's alert.")
@click.option("--duration", default="1h", show_default=True, callback=_duration,
              help="How long the acknowledgement holds (a short silence).")
@click.option("--comment", default="", help="What you are doing about it.")
@author_option
@common.json_option
def ack_cmd(alertname: str, inventory_path: str, alertmanager: str | None,
            site: str | None, instance: str | None, duration: str, comment: str, author: str,
            as_json: bool) -> None:
    """Acknowledge ALERTNAME: a short silence in your name ("ack by NAME"); prints its id.

    Exit 3 when Alertmanager cannot be asked.
    """
    from monitoring.silence import acknowledge

    _, _, alertmanager, http = _servers(inventory_path, site, None, alertmanager, need_prometheus=False)
    _show_silence(acknowledge(alertmanager, alertname, author, duration, site, instance, comment, http=http), "ack",
                  as_json)


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
