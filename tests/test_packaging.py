"""The package set-up that issue 2 asks for: pyproject, README's two commands, .ci/run in step."""
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)


def test_readme_has_the_two_commands_and_ci_runs_the_test_one():
    install_and_open, install_and_test = _bash_blocks()[:2]
    assert install_and_open.startswith("pip install torch==2.13.0 && pip install -e .") and "tunewiz" in install_and_open
    assert "'.[test]'" in install_and_test and "pytest" in install_and_test
    ci = (ROOT / ".ci" / "run").read_text()
    assert install_and_test in ci, ".ci/run must run README's test command (keep the two in step)"
    assert ci.index("torch==2.13.0") < ci.index("pip install -e")
    assert "set -euo pipefail" in ci  # pytest's "no tests collected" (exit 5) fails the run


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_pyproject():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "tunewiz" and project["requires-python"] == ">=3.10"
    assert project["scripts"] == {"tunewiz": "tunewiz.cli:main"}
    deps = {re.split(r"[<>=!\[ ]", d, maxsplit=1)[0] for d in project["dependencies"]}
    assert {"textual", "protobuf", "numpy", "lmdb", "torch", "opencv-python-headless"} <= deps
    assert deps & {"textual-plotext", "plotext"}
    extras = project["optional-dependencies"]
    assert {"test", "leveldb", "serve"} <= set(extras)
    assert any(d.startswith("plyvel") for d in extras["leveldb"])
    assert any(d.startswith("textual-serve") for d in extras["serve"])
    torch = next(d for d in project["dependencies"] if d.startswith("torch"))
    from packaging.specifiers import SpecifierSet  # pip's own rules

    assert "2.13.0" in SpecifierSet(torch.removeprefix("torch"))
