"""`egov inventory`: (filled by its issue)."""

from __future__ import annotations

import click

from commands import common  # noqa: F401


@click.group("inventory", cls=common.EgovGroup)
def inventory_group() -> None:
    """(placeholder)"""
