"""`egov lab`: (filled by its issue)."""

from __future__ import annotations

import click

from commands import common  # noqa: F401


@click.group("lab", cls=common.EgovGroup)
def lab_group() -> None:
    """(placeholder)"""
