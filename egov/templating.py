"""Jinja2 for every layer: one environment shape and errors that name the template file and line.

Templates are data in, text out: StrictUndefined makes a missing field an error, never an empty
string; whitespace control is the same everywhere, so the same context gives the same bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from egov.errors import EgovError

REPO = Path(__file__).resolve().parent.parent
_lock = threading.Lock()


@cache
def environment(directory: Path) -> jinja2.Environment:
    """The environment for the templates under ``directory`` (one per directory, cached)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _location(exc: BaseException, directory: Path, name: str) -> str:
    """``templates/network/frr/base.j2:12``: the deepest template frame of the error's traceback."""
    where = _shown(directory / name)
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(str(directory)):
            where = f"{_shown(Path(filename))}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def render(directory: Path, name: str, context: Mapping[str, Any], error: type[EgovError], what: str) -> str:
    """Render ``directory/name``; any template problem is raised as ``error`` naming file and line.

    + what: what was being rendered, for the message (``router qn-core1``, ``host dc-app1``)
    """
    try:
        with _lock:  # the environment compiles templates lazily; compile each once
            template = environment(directory).get_template(name)
        return template.render(context)
    except jinja2.TemplateNotFound:
        raise error(f"{_shown(directory / name)}: template not found ({what})") from None
    except jinja2.TemplateSyntaxError as exc:
        where = _shown(Path(exc.filename)) if exc.filename else _shown(directory / name)
        raise error(f"{where}:{exc.lineno}: template syntax error: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise error(f"{_location(exc, directory, name)}: rendering {what}: {exc.message or exc}") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, ArithmeticError) as exc:
        # raised by an expression or a filter given the wrong kind of value (``None | int`` in a loop's
        # range, ``"x" + 1``): the data is wrong, so the message names the template line that used it
        raise error(f"{_location(exc, directory, name)}: rendering {what}: {type(exc).__name__}: {exc}") from None
