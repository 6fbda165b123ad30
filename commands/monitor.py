"""`egov monitor`: (filled by its issue)."""

from __future__ import annotations

import click

from commands import common  # noqa: F401


@click.group("monitor", cls=common.EgovGroup)
def monitor_group() -> None:
    """(placeholder)"""
