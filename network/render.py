"""Render each router's intended configuration from its context and its platform's level template.

One Jinja2 environment per platform (templates/network/<platform>/, egov.templating), so a
missing field is an error, never an empty string, and a template error is a NetworkError
naming the template file and line. Same inventory, same bytes: the context is
sorted and the templates hold no clock, no randomness and no dictionary-order dependence.
"""

from __future__ import annotations

import os
from pathlib import Path

from egov import templating
from egov.errors import NetworkError
from egov.secrets import Secrets
from inventory.model import Inventory, Router
from network.context import build_context
from network.drivers import driver_class

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "network"


def template_name(inv: Inventory, router: Router) -> str:
    """The level template of a router: ``<level>.j2`` of its platform."""
    return f"{inv.sites[router.site].level}.j2"


def render(inv: Inventory, router: Router, secrets: Secrets | None = None) -> str:
    """The intended configuration of one router, as text (secrets from ``secrets``, else the
    environment and ``$EGOV_SECRETS_FILE``)."""
    directory = TEMPLATES / driver_class(router.platform).syntax  # VRP V8 speaks VRP's configuration language
    if not directory.is_dir():
        known = sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir())
        raise NetworkError(f"router {router.name}: no templates for platform '{router.platform}' in {TEMPLATES} "
                           f"(known: {', '.join(known)})")
    context = build_context(inv, router, secrets if secrets is not None else Secrets())
    return templating.render(directory, template_name(inv, router), context, NetworkError, f"router {router.name}")


def render_all(inv: Inventory, routers: list[Router], secrets: Secrets | None = None) -> dict[str, str]:
    """Intended configurations by router name, in the order given."""
    secrets = secrets if secrets is not None else Secrets()
    return {router.name: render(inv, router, secrets) for router in routers}


def write(configs: dict[str, str], out: Path) -> list[Path]:
    """Write each configuration to ``out/<router>.cfg``, mode 0600 (they hold the routers' keys);
    unchanged files are left untouched."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in configs.items():
        path = out / f"{name}.cfg"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
        path.chmod(0o600)
        written.append(path)
    return written
