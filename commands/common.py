"""What every command group shares: error mapping, common options and output."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import click

from egov.errors import EgovError
from egov.secrets import RedactingFilter, redact, redact_data

DEFAULT_INVENTORY = "inventory/lab.yml"


class ClickError(click.ClickException):
    """A toolkit error as click shows it: one line per problem, no traceback."""

    def __init__(self, error: EgovError) -> None:
        super().__init__(redact(str(error)))
        self.exit_code = error.exit_code  # type: ignore[misc]  # per error, not per class

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


class EgovGroup(click.Group):
    """A group that turns any EgovError raised below it into a clean message and exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EgovError as exc:
            raise ClickError(exc) from None


def setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())


def default_inventory() -> str:
    return os.environ.get("EGOV_INVENTORY", DEFAULT_INVENTORY)


inventory_option = click.option(
    "-i", "--inventory", "inventory_path", type=click.Path(dir_okay=False), default=default_inventory,
    show_default="inventory/lab.yml or $EGOV_INVENTORY", help="The inventory file.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables.")
limit_option = click.option(
    "--limit", multiple=True, metavar="SITE|ROLE|HOST",
    help="Only these sites, roles, hosts or routers (repeatable).",
)
secrets_option = click.option(
    "--secrets", "secrets_path", type=click.Path(dir_okay=False), default=None,
    help="A 0600 YAML file of secrets (or $EGOV_SECRETS_FILE; EGOV_SECRET_<NAME> variables win).",
)
workers_option = click.option("--workers", type=click.IntRange(1, 256), default=20, show_default=True,
                              help="How many hosts or devices to work on at once.")


def emit_json(data: Any) -> None:
    # values are redacted before JSON escapes them, the text again for any form they still hide in
    text = json.dumps(redact_data(data), indent=2, ensure_ascii=False, default=lambda o: redact(str(o)))
    click.echo(redact(text))


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a table with rich (readable on a terminal and in a CI log alike)."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, show_lines=False)
    for column in columns:
        t.add_column(column)
    for row in rows:
        t.add_row(*(redact(str(cell)) for cell in row))
    Console(soft_wrap=False, width=max(120, Console().width)).print(t)


def exit_for(failed: bool) -> None:
    """End the command with exit code 1 when the run failed somewhere."""
    if failed:
        raise SystemExit(1)

