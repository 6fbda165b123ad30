"""`egov deploy` and `egov node`: (filled by the deploy issue)."""

from __future__ import annotations

import click

from commands import common


@click.command("deploy")
def deploy_cmd() -> None:
    """(placeholder)"""


@click.group("node", cls=common.EgovGroup)
def node_group() -> None:
    """(placeholder)"""
