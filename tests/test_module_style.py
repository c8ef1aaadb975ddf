"""House rules for every module of every package (tunewiz/**, tools/, bench/): a docstring each, at most
300 lines.

``caffe_pb2.py`` is generated (its size follows the schema) and is only checked for its docstring.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tunewiz", "tools", "bench")
MODULES = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)
GENERATED = {"caffe_pb2.py"}
MAX_LINES = 300


def test_the_walk_sees_every_package():
    seen = {p.relative_to(ROOT).parts[0] for p in MODULES}
    assert seen == set(PACKAGES) and len(MODULES) > 150
    assert ROOT / "tunewiz" / "engine" / "__init__.py" in MODULES  # subpackages too


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_docstring_and_size(path):
    text = path.read_text()
    assert ast.get_docstring(ast.parse(text)), f"{path.name}: add a module docstring"
    if path.name not in GENERATED:
        lines = len(text.splitlines())
        assert lines <= MAX_LINES, f"{path.relative_to(ROOT)}: {lines} lines; split it"
