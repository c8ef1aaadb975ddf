"""House rules for the foundation's modules (issue 2): a docstring each, at most 300 lines.

``caffe_pb2.py`` is generated (its size follows the schema) and is only checked for
its docstring.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(
    {*(ROOT / "tunewiz" / "caffe").glob("*.py"), *(ROOT / "tunewiz").glob("*.py"),
     ROOT / "tunewiz" / "commands" / "inspect.py", ROOT / "tunewiz" / "commands" / "upgrade.py",
     ROOT / "tools" / "gen_proto.py", ROOT / "bench" / "load_caffemodel.py"}
)
GENERATED = {"caffe_pb2.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_docstring_and_size(path):
    text = path.read_text()
    assert ast.get_docstring(ast.parse(text)), f"{path.name}: add a module docstring"
    if path.name not in GENERATED:
        assert len(text.splitlines()) <= 300, f"{path.name}: {len(text.splitlines())} lines; split it"
