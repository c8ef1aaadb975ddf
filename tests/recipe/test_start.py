"""Start checks: transfer report, Model Zoo folder (sha1), snapshot checks."""
import hashlib
import os
import time

import numpy as np
import pytest

from tunewiz.caffe import caffe_pb2
from tunewiz.recipe import start
from tunewiz.recipe.layers import RecipeError
from tests.recipe.conftest import FIX
from tests.recipe.helpers import LENET_SHAPES, make_caffemodel


def test_param_shapes_and_transfer_after_rename(net, tmp_path):
    from tunewiz.recipe.classes import change_classes

    tv = net("lenet_train_val.prototxt")
    change_classes(tv, 3, run="r")
    shapes = start.param_shapes(tv, (1, 19, 19))
    assert shapes["ip1"] == [(100, 200), (100,)] and shapes["ip2_r"] == [(3, 100), (3,)]
    report = start.transfer_report([str(make_caffemodel(tmp_path / "w.caffemodel"))], tv, (1, 19, 19))
    assert report.copied == ["conv1", "conv2", "ip1"]
    assert report.new == ["ip2_r"] and report.ignored == ["ip2"] and not report.mismatch


def test_transfer_mismatch_when_name_kept(net, tmp_path):
    from tunewiz.recipe.classes import change_classes

    tv = net("lenet_train_val.prototxt")
    change_classes(tv, 3, new_name="ip2")
    report = start.transfer_report([str(make_caffemodel(tmp_path / "w.caffemodel"))], tv, (1, 19, 19))
    # Caffe's own words for it (finetune_mismatch/caffe.log)
    want = ("Cannot copy param 0 weights from layer 'ip2'; shape mismatch.  Source param shape is 4 100 (400); "
            "target param shape is 3 100 (300). To learn this layer's parameters from scratch rather than "
            "copying from a saved net, rename the layer.")
    assert want in (FIX / "caffe_finetune_mismatch.log").read_text()
    assert report.mismatch and want in report.mismatch[0] and not report.copied


def _zoo(tmp_path, sha=None):
    d = tmp_path / "zoo"
    d.mkdir()
    model = make_caffemodel(d / "net.caffemodel")
    digest = sha or hashlib.sha1(model.read_bytes()).hexdigest()
    (d / "readme.md").write_text(f"---\nname: Test Net\ncaffemodel: net.caffemodel\n"
                                 f"caffemodel_url: http://x/net.caffemodel\nsha1: {digest}\n---\n# text\n")
    (d / "train_val.prototxt").write_text("name: 'x'")
    (d / "deploy.prototxt").write_text("name: 'x'")
    (d / "solver.prototxt").write_text("base_lr: 0.1")
    return d


def test_model_folder_checks_sha1(tmp_path):
    folder = start.read_model_folder(_zoo(tmp_path))
    assert folder.caffemodel.name == "net.caffemodel"
    assert folder.train_val.name == "train_val.prototxt" and folder.deploy.name == "deploy.prototxt"
    assert folder.solver.name == "solver.prototxt"
    assert any("matches readme.md" in line for line in folder.lines)


def test_model_folder_bad_sha1(tmp_path):
    with pytest.raises(RecipeError, match="download it again"):
        start.read_model_folder(_zoo(tmp_path, sha="0" * 40))


def test_model_folder_missing_caffemodel_names_the_url(tmp_path):
    d = _zoo(tmp_path)
    (d / "net.caffemodel").unlink()
    with pytest.raises(RecipeError, match="http://x/net.caffemodel"):
        start.read_model_folder(d)


def test_caffemodel_given_as_snapshot_is_explained(tmp_path):
    model = make_caffemodel(tmp_path / "w.caffemodel")
    with pytest.raises(RecipeError, match="--weights .*iteration 0.*solverstate resumes"):
        start.check_snapshot(str(model), [], caffe_pb2.SolverParameter())


def _state(tmp_path, shapes, learned="w.caffemodel"):
    make_caffemodel(tmp_path / "w.caffemodel")
    st = caffe_pb2.SolverState(iter=10, learned_net=learned)
    for s in shapes:
        b = st.history.add()
        b.shape.dim.extend(s)
        b.data.extend(np.zeros(int(np.prod(s)), np.float32))
    p = tmp_path / "r_iter_10.solverstate"
    p.write_bytes(st.SerializeToString())
    return p


LEARNABLE = [s for v in LENET_SHAPES.values() for s in v]


def test_snapshot_fits(tmp_path):
    p = _state(tmp_path, LEARNABLE)
    lines = start.check_snapshot(str(p), LEARNABLE, caffe_pb2.SolverParameter(type="SGD"), cwd=str(tmp_path))
    assert "iteration 10" in lines[0] and "8 blobs fit" in lines[1]


def test_snapshot_history_of_other_solver_type(tmp_path):
    p = _state(tmp_path, LEARNABLE)
    with pytest.raises(RecipeError, match="8 history blobs.*Adam needs 16"):
        start.check_snapshot(str(p), LEARNABLE, caffe_pb2.SolverParameter(type="Adam"), cwd=str(tmp_path))


def test_snapshot_history_other_net(tmp_path):
    p = _state(tmp_path, LEARNABLE[:6] + [(3, 100), (3,)])
    with pytest.raises(RecipeError, match="history blob 6 is 3 x 100"):
        start.check_snapshot(str(p), LEARNABLE, caffe_pb2.SolverParameter(), cwd=str(tmp_path))


def test_snapshot_learned_net_missing(tmp_path):
    p = _state(tmp_path, LEARNABLE, learned="elsewhere/w.caffemodel")
    with pytest.raises(RecipeError, match="does not exist relative to the working directory"):
        start.check_snapshot(str(p), LEARNABLE, caffe_pb2.SolverParameter(), cwd=str(tmp_path))


def test_snapshot_solver_changed_after(tmp_path):
    p = _state(tmp_path, LEARNABLE)
    solver = tmp_path / "solver.prototxt"
    solver.write_text("base_lr: 0.01\n")
    later = time.time() + 5
    os.utime(solver, (later, later))
    with pytest.raises(RecipeError, match="modified after the snapshot"):
        start.check_snapshot(str(p), LEARNABLE, caffe_pb2.SolverParameter(), {"solver": str(solver)},
                             cwd=str(tmp_path))


def test_snapshot_solver_changed_since_recorded(tmp_path):
    p = _state(tmp_path, LEARNABLE)
    solver = tmp_path / "solver.prototxt"
    solver.write_text("base_lr: 0.01\n")
    (tmp_path / start.FINGERPRINT).write_text('{"sha256": {"solver.prototxt": "%s"}}' % ("0" * 64))
    with pytest.raises(RecipeError, match="changed since this run was set up"):
        start.check_snapshot(str(p), LEARNABLE, caffe_pb2.SolverParameter(), {"solver": str(solver)},
                             cwd=str(tmp_path))
