"""A train_val with a ``type: "Python"`` layer goes through the fine-tune pipeline the CLI, the wizard and
scripts share: planned (shapes on the meta device run the user's setup/reshape), written and trained."""
from __future__ import annotations

import json
from pathlib import Path

from tests.recipe.helpers import make_caffemodel, make_db
from tunewiz.runs import layout

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "recipe"
PYLAYERS = FIX.parent / "python_layer"  # pyrelu.py



def test_a_python_layer_is_planned_written_and_trained(tmp_path, monkeypatch):
    import tunewiz

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(PYLAYERS))
    net = (FIX / "lenet_train_val.prototxt").read_text()
    relu = 'name: "relu1"\n  type: "ReLU"\n  bottom: "ip1"\n  top: "ip1"'
    assert relu in net
    net = net.replace(relu, 'name: "relu1"\n  type: "Python"\n  bottom: "ip1"\n  top: "relu1"\n'
                            '  python_param { module: "pyrelu" layer: "PyReLU" }')
    net = net.replace('bottom: "ip1"\n  top: "ip2"', 'bottom: "relu1"\n  top: "ip2"')
    (tmp_path / "train_val.prototxt").write_text(net)
    make_db(tmp_path / "train_lmdb", [0, 1, 2] * 10)
    make_db(tmp_path / "val_lmdb", [0, 1, 2] * 5, seed=1)
    make_caffemodel(tmp_path / "w.caffemodel")
    opts = tunewiz.FinetuneOptions(net="train_val.prototxt", solver=str(FIX / "sgd_inv_solver.prototxt"),
                                   weights=("w.caffemodel",), train_db="train_lmdb", val_db="val_lmdb",
                                   out="runs/py", mode="cpu", max_iter=3, run_name="py")
    plan = tunewiz.finetune(opts)
    copied = (plan.out_dir / layout.TRAIN_VAL).read_text()
    assert 'type: "Python"' in copied and 'module: "pyrelu"' in copied
    events = [json.loads(line) for line in (plan.out_dir / layout.EVENTS).read_text().splitlines()]
    assert [e["event"] for e in events].count("iteration") == 3 and events[-1]["event"] == "finished"
