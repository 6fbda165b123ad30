"""egov: the command line. Thin: parse options, call one importable function, print its result.

Each subcommand group lives in ``commands/<group>.py``; the logic they call lives in the
library packages (inventory, lab, deploys, network, monitoring), which never import click.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from commands import common
from commands.deploy import deploy_cmd, node_group
from commands.inventory import inventory_group
from commands.lab import lab_group
from commands.monitor import monitor_group
from commands.net import net_group
from commands.verify import verify_cmd


@click.group(cls=common.EgovGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """egov-infra: provision and verify a provincial e-government platform.

    The inventory (inventory/*.yml) describes the province; every command derives its work
    from it. The default inventory is the lab's (inventory/lab.yml, or $EGOV_INVENTORY).
    """
    common.setup_logging(verbose)


for command in (inventory_group, lab_group, deploy_cmd, node_group, verify_cmd, net_group, monitor_group):
    main.add_command(command)


def run(argv: list[str] | None = None) -> Any:
    return main.main(args=argv, prog_name="egov")


if __name__ == "__main__":
    sys.exit(run())
