"""Messages that named the wrong thing (issue 12): a test net without TEST data, a TEST-phase bottom nobody
makes, test_iter without a test net, a solver's relative net path, ``--classes 1``.  Each: exit status 2,
one line naming the phase, the file and the fix, no traceback."""
from __future__ import annotations

from pathlib import Path

import pytest

from tunewiz.cli import main

TRAINING = Path(__file__).resolve().parents[2] / "fixtures" / "training"
SOLVER = 'base_lr: 0.01\nlr_policy: "fixed"\nmax_iter: 2\nsolver_mode: CPU\n'


def _layers(text: str) -> list[str]:
    head, *layers = text.split("layer {")
    return [head, *("layer {" + layer for layer in layers)]


def _net(without_test_data: bool = False, test_label: str = "label") -> str:
    parts = _layers((TRAINING / "train_val.prototxt").read_text())
    if without_test_data:
        parts = [p for p in parts if "phase: TEST" not in p]
    text = "".join(parts)
    return text.replace('  top: "label"\n  include { phase: TEST }',
                        f'  top: "{test_label}"\n  include {{ phase: TEST }}')


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").symlink_to(TRAINING / "data")
    return tmp_path


def _line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("E") or "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


def _train(capsys, solver_text: str) -> tuple[int, str]:
    Path("solver.prototxt").write_text(solver_text)
    rc = main(["train", "--solver", "solver.prototxt", "--run_dir", "run"])
    return rc, _line(capsys.readouterr().err)


def test_test_iter_for_a_net_without_test_data(work, capsys):
    Path("net.prototxt").write_text(_net(without_test_data=True))
    rc, line = _train(capsys, 'net: "net.prototxt"\ntest_iter: 2\ntest_interval: 1\n' + SOLVER)
    assert rc == 2 and "test net #0 (net.prototxt, for test_iter): in the TEST phase, layer 'conv1'" in line
    assert "The net has no data layer for the TEST phase" in line and "include { phase: TEST }" in line
    assert "remove test_iter and test_interval" in line


def test_a_test_phase_bottom_nobody_makes(work, capsys):
    Path("net.prototxt").write_text(_net(test_label="lab"))
    rc, line = _train(capsys, 'net: "net.prototxt"\ntest_iter: 2\ntest_interval: 1\n' + SOLVER)
    assert rc == 2 and "in the TEST phase, layer 'accuracy' (Accuracy) reads bottom 'label'" in line
    assert "The TEST data layer 'data' makes 'data', 'lab'" in line and "name its tops as 'data' does" in line


def test_a_train_phase_bottom_names_the_file_and_phase(work, capsys):
    Path("net.prototxt").write_text(_net().replace('bottom: "pool2"', 'bottom: "pool_2"'))
    rc, line = _train(capsys, 'net: "net.prototxt"\n' + SOLVER)
    assert rc == 2 and line.split("] ", 1)[1].startswith("net.prototxt: in the TRAIN phase, layer 'ip1'")
    assert "did you mean 'pool2'?" in line


def test_test_iter_without_a_test_net(work, capsys):
    Path("net.prototxt").write_text(_net())
    rc, line = _train(capsys, 'train_net: "net.prototxt"\ntest_iter: 2\ntest_interval: 1\n' + SOLVER)
    assert rc == 2 and "test_iter (2) but no net to test" in line and "add test_net:" in line
    assert "remove test_iter and test_interval" in line


def test_tunewiz_test_on_a_net_without_test_data(work, capsys):
    Path("net.prototxt").write_text(_net(without_test_data=True))
    rc = main(["test", "--model", "net.prototxt", "--weights", str(TRAINING / "init.caffemodel"), "--iterations", "1"])
    line = _line(capsys.readouterr().err)
    assert rc == 2 and "net.prototxt: in the TEST phase" in line and "test the TRAIN phase with --phase TRAIN" in line


@pytest.mark.parametrize("field", ["net", "test_net"])
def test_a_relative_net_path_says_where_it_was_looked_for(work, monkeypatch, capsys, field):
    (work / "sub").mkdir()
    Path("sub/net.prototxt").write_text(_net())
    (work / "sub" / "data").symlink_to(TRAINING / "data")
    monkey_cwd = work / "sub"  # run from the solver's folder, as a newcomer does
    monkeypatch.chdir(monkey_cwd)
    net = 'net: "sub/net.prototxt"\n' if field == "net" else 'train_net: "net.prototxt"\ntest_net: "sub/net.prototxt"\n'
    rc, line = _train(capsys, net + "test_iter: 1\ntest_interval: 1\n" + SOLVER)
    looked = f'the solver\'s {field}: "sub/net.prototxt" is looked for as {monkey_cwd}/sub/net.prototxt'
    assert rc == 2 and looked in line
    assert f"read from the folder tunewiz runs in ({monkey_cwd})" in line and "not from the solver's folder" in line


def test_finetune_classes_1_blames_the_flag_not_the_data(tmp_path, monkeypatch, capsys):
    from tests.recipe.helpers import make_caffemodel, make_db

    fix = Path(__file__).resolve().parents[2] / "fixtures" / "recipe"
    monkeypatch.chdir(tmp_path)
    make_db(tmp_path / "train_lmdb", [0, 1, 2] * 4)
    make_db(tmp_path / "val_lmdb", [0, 1, 2] * 2, seed=1)
    make_caffemodel(tmp_path / "w.caffemodel")
    rc = main(["finetune", "--net", str(fix / "lenet_train_val.prototxt"), "--deploy",
               str(fix / "lenet_deploy.prototxt"), "--solver", str(fix / "sgd_inv_solver.prototxt"),
               "--weights", "w.caffemodel", "--train-db", "train_lmdb", "--val-db", "val_lmdb", "--out", "runs/x",
               "--mode", "cpu", "--classes", "1"])
    line = _line(capsys.readouterr().err)
    assert rc == 2 and "--classes must be at least 2" in line and "data" not in line.split("error:", 1)[1]
    assert not Path("runs/x").exists()
