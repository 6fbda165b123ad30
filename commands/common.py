"""What every command group shares: error mapping, common options, output paths and output."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from egov.errors import EgovError
from egov.secrets import RedactingFilter, redact, redact_data

DEFAULT_INVENTORY = "inventory/lab.yml"
# ctx.meta keys (meta is shared by every context of one run): the -v count, the files the command reads
VERBOSE = "egov.verbose"
INPUTS = "egov.inputs"


class ClickError(click.ClickException):
    """A toolkit error as click shows it: one line per problem, no traceback."""

    def __init__(self, error: EgovError) -> None:
        super().__init__(redact(str(error)))
        self.exit_code = error.exit_code  # type: ignore[misc]  # per error, not per class

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


class EgovGroup(click.Group):
    """A group that turns any error raised below it into one line and an exit code, never a traceback:
    an EgovError as itself, a file the system refused as that file and why (exit 2), anything else as an
    internal error naming the command and its input, with the traceback in a log file under -vv."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EgovError as exc:
            raise ClickError(exc) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo(f"error: {_command(ctx)}: interrupted", err=True)
            raise SystemExit(130) from None
        except OSError as exc:  # a file or directory the command was pointed at (the inputs are checked first)
            what = f"{exc.filename}: " if exc.filename else ""
            click.echo(redact(f"error: {_command(ctx)}: {what}{exc.strerror or exc}"), err=True)
            raise SystemExit(2) from None
        except Exception as exc:  # noqa: BLE001 - the guard: no traceback reaches the user
            raise SystemExit(internal_error(ctx, exc)) from None


def _command(ctx: click.Context) -> str:
    return " ".join(part for part in (ctx.command_path, ctx.invoked_subcommand) if part)


def internal_error(ctx: click.Context, exc: BaseException) -> int:
    """Say in one line that ``exc`` is ours, not the user's; under -vv write its traceback to a log file."""
    inputs = ctx.meta.get(INPUTS) or {}
    given = ", ".join(f"{name} {value}" for name, value in inputs.items())
    line = f"error: {_command(ctx)}{f' ({given})' if given else ''}: internal error {type(exc).__name__}: {exc}"
    if ctx.meta.get(VERBOSE, 0) >= 2:
        fd, log = tempfile.mkstemp(prefix="egov-traceback-", suffix=".log")  # 0600: it may quote data
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(redact("".join(traceback.format_exception(exc))))
        line += f"; the traceback is in {log}"
    else:
        line += "; rerun with -vv to write the traceback to a log file"
    click.echo(redact(" ".join(line.split())), err=True)
    return 1


def remember_input(name: str) -> Any:
    """An option callback that records the file an option names, so an internal error can name it."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value:
            ctx.meta.setdefault(INPUTS, {})[name] = value
        return value

    return callback


def output_path(kind: str) -> Any:
    """An option callback that checks, before any work, that a ``kind`` ("file" or "dir") can be written
    at the path given: the path is not the other kind, its nearest existing folder is a folder we may
    write into. Refused: a usage error (exit 2)."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            problem = output_problem(Path(value), kind)
            if problem:
                raise click.BadParameter(problem, ctx=ctx, param=param)
        return value

    return callback


def output_problem(path: Path, kind: str) -> str | None:
    """What stops writing a ``kind`` ("file" or "dir") at ``path``, or None."""
    if path.exists():
        if kind == "file" and path.is_dir():
            return f"{path} is a directory, not a file"
        if kind == "dir" and not path.is_dir():
            return f"{path} exists and is not a directory"
        if kind == "file" and not path.is_file():
            return f"{path} is not a regular file"
        if not os.access(path, os.W_OK):
            return f"{path} cannot be written (permission or a read-only file system)"
        return None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory, so {path} cannot be created"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{path} cannot be created: {parent} is not writable (permission or a read-only file system)"
    return None


def setup_logging(verbose: int) -> None:
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[VERBOSE] = verbose
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())


def default_inventory() -> str:
    return os.environ.get("EGOV_INVENTORY", DEFAULT_INVENTORY)


inventory_option = click.option(
    "-i", "--inventory", "inventory_path", type=click.Path(dir_okay=False), default=default_inventory,
    show_default="inventory/lab.yml or $EGOV_INVENTORY", help="The inventory file.",
    callback=remember_input("inventory"),
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables.")
limit_option = click.option(
    "--limit", multiple=True, metavar="SITE|ROLE|HOST",
    help="Only these sites, roles, hosts or routers (repeatable).",
)
secrets_option = click.option(
    "--secrets", "secrets_path", type=click.Path(dir_okay=False), default=None,
    help="A 0600 YAML file of secrets (or $EGOV_SECRETS_FILE; EGOV_SECRET_<NAME> variables win).",
    callback=remember_input("secrets"),
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
    from rich.text import Text

    # Text, not str: data is printed as it is, never read as markup (a site title "[/bold]")
    t = Table(title=Text(redact(title)) if title else None, show_lines=False)
    for column in columns:
        t.add_column(Text(column))
    for row in rows:
        t.add_row(*(Text(redact(str(cell))) for cell in row))
    Console(soft_wrap=False, width=max(120, Console().width)).print(t)


def exit_for(failed: bool) -> None:
    """End the command with exit code 1 when the run failed somewhere."""
    if failed:
        raise SystemExit(1)

