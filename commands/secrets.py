"""`egov secrets`: which secrets a deploy of the inventory needs and lacks; generate them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from commands import common

if TYPE_CHECKING:
    from inventory import Host, Inventory

GENERATE_HELP = "The 0600 secrets file to add them to (made if absent; what it holds is kept)."


def _hosts(inventory_path: str, limit: tuple[str, ...]) -> tuple[Inventory, list[Host]]:
    from deploys.runner import selected_hosts
    from inventory import load_inventory

    inv = load_inventory(inventory_path)
    return inv, selected_hosts(inv, limit)


@click.group("secrets", cls=common.EgovGroup)
def secrets_group() -> None:
    """The deploy's secrets: passwords and keys of the services, each account's initial password.

    They never live in the inventory: EGOV_SECRET_<NAME> variables, then a 0600 secrets file
    (--secrets or $EGOV_SECRETS_FILE). A lab generates its own; production uses these commands.
    """


@secrets_group.command("missing")
@common.inventory_option
@common.limit_option
@common.secrets_option
@common.json_option
def missing_cmd(inventory_path: str, limit: tuple[str, ...], secrets_path: str | None, as_json: bool) -> None:
    """List the secrets a deploy of the selected hosts reads and that are not set, with the hosts
    that need each. Exit 1 when any is missing."""
    from deploys import secret_needs
    from egov.secrets import Secrets

    inv, hosts = _hosts(inventory_path, limit)
    absent = secret_needs.missing(inv, hosts, Secrets(secrets_path))
    if as_json:
        common.emit_json({"missing": [{"name": n, "hosts": h} for n, h in absent.items()]})
    elif absent:
        common.table("secrets not set", ("secret", "needed by"), [(n, ", ".join(h)) for n, h in absent.items()])
        click.echo(f"{len(absent)} missing: egov secrets generate --secrets FILE adds them")
    else:
        click.echo("every secret the deploy reads is set")
    common.exit_for(bool(absent))


@secrets_group.command("generate")
@common.inventory_option
@common.limit_option
@click.option("--secrets", "secrets_path", type=click.Path(dir_okay=False), required=True,
              callback=common.remember_input("secrets"), help=GENERATE_HELP)
@common.json_option
def generate_cmd(inventory_path: str, limit: tuple[str, ...], secrets_path: str, as_json: bool) -> None:
    """Generate every secret a deploy of the selected hosts reads and that is not set, into the
    secrets file: the services' passwords and keys, each new account's initial password (for its
    agency's IT to hand over). Prints the names only; the values are in the file. A second run adds
    nothing. The WAN's device credentials are not generated: they are the devices' own."""
    from deploys import secret_needs
    from egov.secrets import Secrets

    inv, hosts = _hosts(inventory_path, limit)
    path = Path(secrets_path)
    if not path.exists():
        # an empty file, not Secrets(None), which would read $EGOV_SECRETS_FILE instead of this one
        path.touch(mode=0o600)
    added = secret_needs.generate(inv, hosts, Secrets(path), path)
    if as_json:
        common.emit_json({"file": str(path), "added": [{"name": n, "hosts": h} for n, h in added.items()]})
        return
    if added:
        common.table(f"added to {path}", ("secret", "needed by"), [(n, ", ".join(h)) for n, h in added.items()])
    click.echo(f"{len(added)} secrets added to {path} (mode 0600); the values are in the file only")
