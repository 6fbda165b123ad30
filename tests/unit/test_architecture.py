"""The import rules of docs/ARCHITECTURE.md hold: every import statement of every module of our
packages (lazy ones inside functions and those under TYPE_CHECKING included) names only what
its package may use. Standard library and third-party imports are free."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CORE = ("egov",)
MODEL = (*CORE, "inventory")
LAYERS = ("lab", "deploys", "network", "monitoring", "verify")
# deploys ship monitoring's generated configuration, delivery settings and on-call page; nothing else
MONITORING_GENERATORS = ("monitoring.config", "monitoring.targets", "monitoring.delivery", "monitoring.web",
                         "monitoring.webconfig")

# package -> (what it may import besides itself, the rule as ARCHITECTURE.md says it)
RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "egov": ((), "egov imports nothing of ours"),
    "inventory": (CORE, "inventory imports only egov"),
    **{layer: (MODEL, "a layer imports only egov and inventory") for layer in LAYERS},
    "deploys": ((*MODEL, *MONITORING_GENERATORS), "deploys import only egov, inventory and monitoring's generators"),
    "workflows": ((*MODEL, *LAYERS), "workflows import only egov, inventory and the layers"),
}
FREE = ("commands", "cli")  # the CLI may import anything
OURS = (*RULES, *FREE)


def _module(base: str, name: str) -> str:
    """``from base import name``: ``base.name`` when that is a module of ours, else ``base``."""
    path = REPO.joinpath(*base.split("."), name)
    return f"{base}.{name}" if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file() else base


def _imports(path: Path, module: str) -> list[str]:
    """The absolute name of every module that ``path`` (the module ``module``) imports."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = [*package[:len(package) - node.level + 1], node.module] if node.level else [node.module]
            base = ".".join(p for p in parts if p)
            names += [_module(base, alias.name) for alias in node.names]
    return names


def _allowed(name: str, own: str, allowed: tuple[str, ...]) -> bool:
    return any(name == a or name.startswith(a + ".") for a in (own, *allowed))


def violations() -> list[str]:
    """``module: imports X (rule)`` for every import against the rules, sorted."""
    found = set()
    for own, (allowed, rule) in RULES.items():
        for path in sorted((REPO / own).rglob("*.py")):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            for name in _imports(path, module):
                if name.split(".")[0] in OURS and not _allowed(name, own, allowed):
                    found.add(f"{module}: imports {name} ({rule})")
    return sorted(found)


def test_every_package_of_ours_has_a_rule() -> None:
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests"}
    assert packages <= set(OURS), f"packages without an import rule in this test: {sorted(packages - set(OURS))}"


def test_the_layers_import_only_what_architecture_md_allows() -> None:
    found = violations()
    assert not found, "imports against docs/ARCHITECTURE.md:\n" + "\n".join(found)
