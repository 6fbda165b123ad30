"""`egov net`: (filled by its issue)."""

from __future__ import annotations

import click

from commands import common  # noqa: F401


@click.group("net", cls=common.EgovGroup)
def net_group() -> None:
    """(placeholder)"""
