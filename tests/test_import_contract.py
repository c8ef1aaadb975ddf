"""The import contract, read statically from every module's source (lazy imports inside functions too).

Layers, lowest first: ``errors``, ``sample_models`` (data only) < ``caffe``, ``runs`` (one layer) < ``data``
< ``engine`` < ``recipe`` < ``commands``, ``wizard`` (one layer) < ``cli`` and the package's own
``__init__``/``__main__``.  A module imports only its own layer or lower ones, and nothing below the
wizard's layer imports ``textual``.  (``test_import_hygiene.py`` checks the same at run time for what
a real import pulls in.)
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tunewiz"
LAYERS = {"errors": 0, "sample_models": 0, "runs": 1, "caffe": 1, "data": 2, "engine": 3, "recipe": 4, "commands": 5, "wizard": 5,
          "cli": 6, "__init__": 6, "__main__": 6}
UI = ("textual", "textual_plotext", "textual_serve", "plotext")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer_of(module: str) -> int | None:
    """The layer of a ``tunewiz…`` module name (``tunewiz`` itself: the top)."""
    parts = module.split(".")
    if parts[0] != "tunewiz":
        return None
    return LAYERS["__init__"] if len(parts) == 1 else LAYERS.get(parts[1])


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import statement in the file."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    return _imports_in(path.read_text(), package)


def _imports_in(source: str, package: str) -> list[tuple[int, str]]:
    """The imports of ``source``, a module of ``package`` (relative imports resolved against it)."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # "from tunewiz import wizard" names a package, not an attribute
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names if module == "tunewiz"]
    return found


FILES = sorted(PACKAGE.rglob("*.py"))


def test_the_walk_sees_the_package():
    assert len(FILES) > 80 and all(_layer_of(_module_name(f)) is not None for f in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_its_layer_or_lower(path):
    own = _layer_of(_module_name(path))
    wrong = []
    for line, module in _imports(path):
        target = _layer_of(module)
        if target is not None and target > own:
            wrong.append(f"line {line}: {module}")
        if own < LAYERS["wizard"] and module.split(".")[0] in UI:
            wrong.append(f"line {line}: {module} (the UI, below the wizard)")
    assert not wrong, f"{path.relative_to(PACKAGE.parent)} breaks the layers: {'; '.join(wrong)}"


def test_the_contract_catches_a_violation():
    """The checker itself: a lazy import of the recipe and of textual inside an engine function are seen."""
    source = "def f():\n    from ..recipe import batch\n    import textual.app\n"
    imports = [m for _, m in _imports_in(source, "tunewiz.engine")]
    assert imports == ["tunewiz.recipe", "textual.app"]
    assert _layer_of("tunewiz.recipe") > _layer_of("tunewiz.engine.anything")
