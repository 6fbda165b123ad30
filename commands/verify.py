"""`egov verify`: check every node against the standard (verify/controls.yml)."""

from __future__ import annotations

from typing import Any

import click

from commands import common

HELP_JUNIT = "Write JUnit XML here: one testcase per node and control (for CI)."
HELP_REPORT = "Write a standalone HTML report here."
HELP_CATALOGUE = "Another control catalogue (default: verify/controls.yml)."


@click.command("verify")
@common.inventory_option
@common.limit_option
@click.option("--junit", type=click.Path(dir_okay=False), default=None, callback=common.output_path("file"),
              help=HELP_JUNIT)
@click.option("--report", type=click.Path(dir_okay=False), default=None, callback=common.output_path("file"),
              help=HELP_REPORT)
@click.option("--catalogue", type=click.Path(dir_okay=False, exists=True), default=None, help=HELP_CATALOGUE)
@common.workers_option
@common.json_option
def verify_cmd(inventory_path: str, limit: tuple[str, ...], junit: str | None, report: str | None,
               catalogue: str | None, workers: int, as_json: bool) -> None:
    """Verify the inventory's hosts against the standard, in parallel.

    Runs every control that applies to each node's roles (network, server, application and data
    security, after TCVN 11930:2017) over SSH with strict host-key checking, prints pass or fail
    per node and control, and exits 1 when a required control fails on any node.
    """
    from inventory import load_inventory
    from verify import load_catalogue, run

    inv = load_inventory(inventory_path)
    cat = load_catalogue(catalogue) if catalogue else load_catalogue()

    def progress(result: Any) -> None:
        if not as_json:
            verdict = "FAIL" if result.failed else "ok"
            click.echo(f"{result.target}: {verdict} ({result.data.get('seconds', 0)} s)", err=True)

    result = run(inv, limit, junit=junit, report=report, workers=workers, catalogue=cat, on_done=progress)
    if as_json:
        common.emit_json(result.to_dict())
    else:
        rows = [
            (name, c["id"], c["severity"], "pass" if c["passed"] else "FAIL", c["detail"])
            for name, node in result.items()
            for c in node.data.get("controls", [])
        ]
        rows += [(name, "-", "required", "FAIL", node.error)
                 for name, node in result.items() if node.failed and not node.data.get("controls")]
        common.table("egov verify", ["node", "control", "severity", "result", "detail"], rows)
        failed = [f"{name} {c['id']}" for name, node in result.items() for c in node.data.get("controls", [])
                  if not c["passed"] and c["severity"] == "required"]
        verdict = f"NOT COMPLIANT: {', '.join(failed) or ', '.join(result.failed_targets)}" if result.failed \
            else f"COMPLIANT: {len(result)} nodes, every required control passed"
        click.echo(verdict)
        for path, what in ((junit, "JUnit"), (report, "HTML report")):
            if path:
                click.echo(f"{what}: {path}")
    common.exit_for(result.failed)
