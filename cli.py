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
from commands.secrets import secrets_group
from commands.verify import verify_cmd


@click.group(cls=common.EgovGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True,
              help="More log output (-vv: debug, and an internal error's traceback in a log file).")
def main(verbose: int) -> None:
    """egov-infra: provision and verify a provincial e-government platform.

    The inventory (inventory/*.yml) describes the province; every command derives its work
    from it. The default inventory is the lab's (inventory/lab.yml, or $EGOV_INVENTORY).

    \b
    Exit codes:
      0  done (nothing failed)
      1  something failed on a target (a host, router or check), or an internal error (the message says)
      2  bad input or usage: the message names the file, line and field, or the option
    """
    common.setup_logging(verbose)


for command in (inventory_group, lab_group, deploy_cmd, node_group, verify_cmd, net_group, monitor_group,
                secrets_group):
    main.add_command(command)


def run(argv: list[str] | None = None) -> Any:
    """The ``egov`` entry point: every error, a usage error too, is one line on stderr and an exit code."""
    try:
        return main.main(args=argv, prog_name="egov", standalone_mode=False) or 0
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "egov"
        click.echo(f"error: {where}: {exc.format_message()} (see {where} --help)", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("error: egov: interrupted", err=True)
        return 130
    except SystemExit as exc:  # a command's exit code (1: something failed on a target)
        return exc.code
    except Exception as exc:  # noqa: BLE001 - the last guard, for what fails before a command runs
        return common.internal_error(click.Context(main, info_name="egov"), exc)


if __name__ == "__main__":
    sys.exit(run())
