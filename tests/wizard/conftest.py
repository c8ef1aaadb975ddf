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


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict:
    """Steps 2-4 done once per module through the wizard's adapter (the UI walk has its own tests)."""
    import threading

    from tunewiz.data import conversion as core
    from tunewiz.wizard.state import WizardState

    root = tmp_path_factory.mktemp("prepared")
    src = root / "src"
    src.mkdir()
    for name in ("tiny_train_val.prototxt", "tiny_deploy.prototxt", "tiny_solver.prototxt"):
        shutil.copy(FIXTURES / name, src / name)
    images = make_class_folders(root / "images")
    st = WizardState(runs_root=root / "runs")
    gen = core.convert_folder(images, st.run_dir / "data", core.ConvertOptions(gray=True), threading.Event())
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            result = stop.value
            break
    st.image_root, st.train_db, st.val_db = str(images), str(result.train_db), str(result.val_db)
    st.val_count, st.classes = result.val_count, ["five", "seven", "six"]
    st.net_src, st.deploy_src, st.solver_src = (str(src / "tiny_train_val.prototxt"),
                                                str(src / "tiny_deploy.prototxt"), str(src / "tiny_solver.prototxt"))
    return {"root": root, "state": st, "weights": make_caffemodel(root / "pretrained.caffemodel")}

