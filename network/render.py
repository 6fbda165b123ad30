"""Render each router's intended configuration from its context and its platform's level template.

One Jinja2 environment per platform (templates/network/<platform>/), StrictUndefined so a
missing field is an error, never an empty string. A template error is raised again as a
NetworkError naming the template file and line. Same inventory, same bytes: the context is
sorted and the templates hold no clock, no randomness and no dictionary-order dependence.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import jinja2

from egov.errors import NetworkError
from inventory.model import Inventory, Router
from network.context import build_context

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "network"
_lock = threading.Lock()


@cache
def _environment(platform: str) -> jinja2.Environment:
    directory = TEMPLATES / platform
    if not directory.is_dir():
        known = sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir())
        raise NetworkError(f"no templates for platform '{platform}' in {TEMPLATES} (known: {', '.join(known)})")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _template_location(exc: BaseException, platform: str) -> str:
    """``templates/network/frr/base.j2:12`` from the traceback of an error raised while rendering."""
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(str(TEMPLATES)):
            where = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where or str(TEMPLATES / platform)


def template_name(inv: Inventory, router: Router) -> str:
    """The level template of a router: ``<level>.j2`` of its platform."""
    return f"{inv.sites[router.site].level}.j2"


def render(inv: Inventory, router: Router) -> str:
    """The intended configuration of one router, as text."""
    context = build_context(inv, router)
    name = template_name(inv, router)
    try:
        with _lock:  # the cached environment compiles templates lazily; compile once
            template = _environment(router.platform).get_template(name)
        return template.render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise NetworkError(f"{exc.filename or name}:{exc.lineno}: template syntax error: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:
        raise NetworkError(f"router {router.name}: no template {TEMPLATES / router.platform / str(exc.name)} "
                           f"for level '{inv.sites[router.site].level}'") from None
    except jinja2.TemplateError as exc:
        raise NetworkError(f"{_template_location(exc, router.platform)}: rendering router {router.name}: "
                           f"{exc.message or exc}") from None


def render_all(inv: Inventory, routers: list[Router]) -> dict[str, str]:
    """Intended configurations by router name, in the order given."""
    return {router.name: render(inv, router) for router in routers}


def write(configs: dict[str, str], out: Path) -> list[Path]:
    """Write each configuration to ``out/<router>.cfg``; unchanged files are left untouched."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in configs.items():
        path = out / f"{name}.cfg"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
