"""The import contract, read statically from every module's source (lazy imports inside functions too).

Layers, lowest first: ``errors``, ``sample_models`` (data only) < ``caffe``, ``runs`` (one layer) < ``data``
< ``engine`` < ``recipe``, ``infer``, ``export`` < ``commands``, ``pycaffe``, ``wizard`` (one layer) < ``cli`` and the package's own
``__init__``/``__main__``.  A module imports only its own layer or lower ones, and nothing below the
wizard's layer imports ``textual``.  (``test_import_hygiene.py`` checks the same at run time for what
a real import pulls in.)

No import circle either: every module's imports (lazy ones too), each resolved to the module it loads
(``from tunewiz.caffe import caffe_pb2`` loads ``tunewiz.caffe.caffe_pb2``), make a graph in which no
module reaches itself; a circle is reported as its chain of modules, with the line of each import.
"""
from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tunewiz"
LAYERS = {"errors": 0, "outputs": 0, "sample_models": 0, "threads": 0, "runs": 1, "caffe": 1, "data": 2, "engine": 3, "recipe": 4, "infer": 4, "export": 4, "commands": 5, "pycaffe": 5,
          "wizard": 5,
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
    found = []
    for line, module, names in _statements(source, package):
        found.append((line, module))
        # "from tunewiz import wizard" names a package, not an attribute
        found += [(line, f"{module}.{name}") for name in names if module == "tunewiz"]
    return found


def _statements(source: str, package: str) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, names taken from it) of every import statement in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module, [a.name for a in node.names]))
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


# ----------------------------------------------------------------------------- circles


def _package_of(path: Path) -> str:
    return _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]


def _graph(sources: dict[str, tuple[str, str]]) -> dict[str, dict[str, int]]:
    """{module: {module it loads: line}} for ``sources`` = {module: (its source, its package)}."""
    graph: dict[str, dict[str, int]] = {name: {} for name in sources}
    for name, (source, package) in sources.items():
        for line, module, names in _statements(source, package):
            loaded = [f"{module}.{n}" for n in names if f"{module}.{n}" in sources] or [module]
            for target in loaded:
                while target and target not in sources:  # "import tunewiz.a.b" where b is a name in a
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].setdefault(target, line)
    return graph


def _strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's components of more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _chain(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    """The shortest loop from the component's first module back to it, as "a -> (line 3) b -> ... a"."""
    start, members = component[0], set(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph[node]):
            if nxt in members and nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
        if start in came_from:
            break
    path = [start]
    while len(path) == 1 or path[-1] != start:
        path.append(came_from[path[-1]])
    path.reverse()
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(path, path[1:])) + f" -> {start}"


def circles(sources: dict[str, tuple[str, str]]) -> list[str]:
    """Every import circle among ``sources``, one chain each."""
    graph = _graph(sources)
    return [_chain(graph, component) for component in _strongly_connected(graph)]


def test_no_import_circle():
    sources = {_module_name(f): (f.read_text(), _package_of(f)) for f in FILES}
    found = circles(sources)
    assert not found, "import circles (move what both sides need to a module of its own):\n" + "\n".join(found)


def test_the_circle_finder_sees_lazy_and_relative_imports():
    """The checker itself: a circle closed by a lazy, relative ``from . import b`` is found and spelled out."""
    sources = {
        "tunewiz.p": ("", "tunewiz.p"),
        "tunewiz.p.a": ("from tunewiz.p.b import x\n", "tunewiz.p"),
        "tunewiz.p.b": ("def f():\n    from . import c\n", "tunewiz.p"),
        "tunewiz.p.c": ("import tunewiz.p.a\n", "tunewiz.p"),
        "tunewiz.p.d": ("from tunewiz.p import a\n", "tunewiz.p"),
    }
    assert circles(sources) == ["tunewiz.p.a (line 1) -> tunewiz.p.b (line 2) -> tunewiz.p.c (line 1) -> tunewiz.p.a"]
    del sources["tunewiz.p.c"]
    assert circles(sources) == []

