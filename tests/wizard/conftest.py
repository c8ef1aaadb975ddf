"""Fixtures for the wizard's tests (helpers live in wizard_helpers.py / wizard_walk.py)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from wizard_helpers import FIXTURES, make_caffemodel, make_class_folders  # noqa: E402


@pytest.fixture
def workspace(tmp_path: Path) -> dict:
    """Sources, images and weights in a temp folder, like a user's project."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("tiny_train_val.prototxt", "tiny_deploy.prototxt", "tiny_solver.prototxt"):
        shutil.copy(FIXTURES / name, src / name)
    return {
        "root": tmp_path,
        "runs": tmp_path / "runs",
        "images": make_class_folders(tmp_path / "images"),
        "net": src / "tiny_train_val.prototxt",
        "deploy": src / "tiny_deploy.prototxt",
        "solver": src / "tiny_solver.prototxt",
    }


@pytest.fixture
def weights(workspace) -> Path:
    return make_caffemodel(workspace["root"] / "pretrained.caffemodel")
