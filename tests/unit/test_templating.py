"""egov.templating: every problem raised while rendering is the caller's error class, naming the
template file and line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from egov.errors import EgovError
from egov.templating import render


class TemplateProblem(EgovError):
    pass


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    (tmp_path / "t.j2").write_text("hostname {{ name }}\n"
                                   "{% for n in range(count) %}\nline {{ n }}\n{% endfor %}\n"
                                   "mtu {{ mtu + 1 }}\n"
                                   "{{ items | join(', ') }}\n")
    return tmp_path


def test_a_good_context_renders(templates: Path) -> None:
    text = render(templates, "t.j2", {"name": "r1", "count": 1, "mtu": 1499, "items": ["a", "b"]},
                  TemplateProblem, "router r1")
    assert text == "hostname r1\nline 0\nmtu 1500\na, b\n"


@pytest.mark.parametrize(("context", "line", "kind"), [
    ({"name": "r1", "count": None, "mtu": 1, "items": []}, 2, "TypeError"),       # range(None)
    ({"name": "r1", "count": 0, "mtu": "x", "items": []}, 5, "TypeError"),        # "x" + 1
    ({"name": "r1", "count": 0, "mtu": 1, "items": None}, 6, "TypeError"),        # a filter given None
])
def test_an_exception_while_rendering_names_the_file_and_line(templates: Path, context: dict[str, object],
                                                              line: int, kind: str) -> None:
    with pytest.raises(TemplateProblem) as caught:
        render(templates, "t.j2", context, TemplateProblem, "router r1")
    message = str(caught.value)
    assert message.startswith(f"{templates / 't.j2'}:{line}: rendering router r1: {kind}: "), message


def test_an_undefined_name_still_names_the_line(templates: Path) -> None:
    with pytest.raises(TemplateProblem, match=r"t\.j2:1: rendering router r1: 'name' is undefined"):
        render(templates, "t.j2", {}, TemplateProblem, "router r1")
