"""`egov verify`: (filled by the deploy issue)."""

from __future__ import annotations

import click


@click.command("verify")
def verify_cmd() -> None:
    """(placeholder)"""
