"""``tunewiz finetune``: copies written, plan printed, bad input as one clear message; --train end to end."""
import importlib.util
import shutil
from pathlib import Path

import pytest

from tunewiz.caffe.prototxt import read_net_text, read_solver_text
from tunewiz.cli import main
from tunewiz.sample_models import LENET_DIGITS
from tests.recipe.helpers import make_caffemodel, make_db

FIX = Path(__file__).parent / "fixtures" / "recipe"
SAMPLE = LENET_DIGITS


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_db(tmp_path / "train_lmdb", [0, 1, 2] * 10)
    make_db(tmp_path / "val_lmdb", [0, 1, 2] * 5, seed=1)
    make_caffemodel(tmp_path / "w.caffemodel")
    return tmp_path


def _args(*extra):
    return ["finetune", "--net", str(FIX / "lenet_train_val.prototxt"), "--deploy", str(FIX / "lenet_deploy.prototxt"),
            "--solver", str(FIX / "sgd_inv_solver.prototxt"), "--weights", "w.caffemodel",
            "--train-db", "train_lmdb", "--val-db", "val_lmdb", "--out", "runs/flickr", "--mode", "cpu", *extra]


def test_writes_edited_copies_and_prints_plan(work, capsys):
    assert main(_args("--freeze-through", "conv1", "--max-iter", "20", "--lr-divisor", "100")) == 0
    out = capsys.readouterr().out
    assert "ip2' is renamed 'ip2_flickr'" in out and "ignored source layers" in out and "ip2" in out
    assert "copied from the weights: conv1, conv2, ip1" in out and "learning-rate schedule" in out
    tv = read_net_text("runs/flickr/train_val.prototxt")
    assert [l.name for l in tv.layer][-3] == "ip2_flickr"
    # paths are made absolute: the run folder works whatever folder training runs from
    assert tv.layer[0].data_param.source == str(work / "train_lmdb") and tv.layer[2].param[0].lr_mult == 0
    dep = read_net_text("runs/flickr/deploy.prototxt")
    assert list(dep.layer[-1].bottom) == ["ip2_flickr"] and dep.layer[-2].inner_product_param.num_output == 3
    s = read_solver_text("runs/flickr/solver.prototxt")
    assert s.net == str(work / "runs/flickr/train_val.prototxt") and s.snapshot_prefix == str(work / "runs/flickr/flickr")
    assert s.base_lr == pytest.approx(1e-4) and s.max_iter == 20 and list(s.test_iter) == [1]
    # the sources are untouched
    assert read_net_text(FIX / "lenet_train_val.prototxt").layer[-3].name == "ip2"


def test_existing_copy_not_overwritten(work, capsys):
    assert main(_args()) == 0
    assert main(_args("--lr-divisor", "100")) == 2
    assert "already exist" in capsys.readouterr().err
    assert main(_args("--lr-divisor", "100", "--overwrite")) == 0


def test_dry_run_and_diff(work, capsys):
    assert main(_args("--dry-run", "--diff")) == 0
    out = capsys.readouterr().out
    assert '+  name: "ip2_flickr"' in out and "nothing written" in out
    assert not Path("runs/flickr").exists()


@pytest.mark.parametrize("extra,msg", [
    (["--freeze-through", "conv9"], "no layer of that name; did you mean conv2, conv1?"),
    (["--classes", "0"], "at least 2"),
    (["--classes", "2"], "labels up to 2"),
])
def test_bad_input(work, capsys, extra, msg):
    assert main(_args(*extra)) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err
    assert not Path("runs/flickr").exists()


def test_one_class_data(work, capsys):
    make_db(work / "one_lmdb", [0] * 8)
    argv = _args()
    argv[argv.index("train_lmdb")] = "one_lmdb"
    assert main(argv) == 2
    assert "only one class" in capsys.readouterr().err


def test_caffemodel_as_snapshot(work, capsys):
    argv = [a for a in _args() if a not in ("--weights", "w.caffemodel")] + ["--snapshot", "w.caffemodel"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "this is a .caffemodel" in err and "--weights" in err


def test_model_folder(work, capsys):
    import hashlib

    zoo = work / "zoo"
    zoo.mkdir()
    shutil.copy(FIX / "lenet_train_val.prototxt", zoo / "train_val.prototxt")
    shutil.copy(FIX / "lenet_deploy.prototxt", zoo / "deploy.prototxt")
    shutil.copy(FIX / "sgd_inv_solver.prototxt", zoo / "solver.prototxt")
    shutil.copy(work / "w.caffemodel", zoo / "lenet.caffemodel")
    sha = hashlib.sha1((zoo / "lenet.caffemodel").read_bytes()).hexdigest()
    (zoo / "readme.md").write_text(f"---\nname: LeNet\ncaffemodel: lenet.caffemodel\nsha1: {sha}\n---\n")
    argv = ["finetune", "--model", "zoo", "--train-db", "train_lmdb", "--val-db", "val_lmdb", "--out", "runs/m",
            "--mode", "cpu"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "sha1" in out and "matches readme.md" in out and "ip2_m" in out
    assert Path("runs/m/deploy.prototxt").is_file()


def _train_available() -> bool:
    return importlib.util.find_spec("tunewiz.commands.train") is not None


@pytest.mark.skipif(not _train_available(), reason="needs 'tunewiz train' (tunewiz/commands/train.py, not landed yet)")
@pytest.mark.skipif(not (SAMPLE / "lenet_digits04.caffemodel").is_file(), reason="sample caffemodel not built yet")
def test_finetune_train_on_the_sample(tmp_path, monkeypatch, capsys):
    """End to end on the shipped sample: convert, finetune --train for a few iterations, snapshot written."""
    monkeypatch.chdir(tmp_path)
    for lst, db in (("train.txt", "train_lmdb"), ("val.txt", "val_lmdb")):
        assert main(["convert-imageset", "--gray", "--resize_height", "20", "--resize_width", "20",
                     str(SAMPLE / "images") + "/", str(SAMPLE / lst), db]) == 0
    argv = ["finetune", "--net", str(SAMPLE / "lenet_train_val.prototxt"),
            "--deploy", str(SAMPLE / "lenet_deploy.prototxt"), "--solver", str(SAMPLE / "lenet_solver.prototxt"),
            "--weights", str(SAMPLE / "lenet_digits04.caffemodel"), "--train-db", "train_lmdb",
            "--val-db", "val_lmdb", "--max-iter", "6", "--out", "run", "--mode", "cpu", "--train"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "copied from the weights: conv1, conv2, ip1" in out
    assert Path("run/run_iter_6.caffemodel").is_file() and Path("run/run_iter_6.solverstate").is_file()
    # resuming: the same options pass the snapshot checks; another max_iter would change the solver
    resume = [a for a in argv if a not in ("--train",)]
    i = resume.index("--weights")
    resume[i:i + 2] = ["--snapshot", "run/run_iter_6.solverstate"]
    assert main(resume) == 0
    assert "history: 8 blobs fit" in capsys.readouterr().out
    resume[resume.index("--max-iter") + 1] = "7"
    assert main(resume) == 2
    assert "resuming needs the same solver and net" in capsys.readouterr().err


def test_options_replays_a_run_into_the_same_files(work, capsys):
    """finetune.json keeps the options; ``--options`` writes the same copies again, elsewhere moved aside."""
    import json

    assert main(_args("--rename", "ip2_x", "--freeze-through", "conv1", "--max-iter", "30", "--base-lr", "0.002",
                      "--test-interval", "7", "--mean-value", "-1.5,2,3")) == 0
    first = {p.name: p.read_bytes() for p in (work / "runs" / "flickr").iterdir()}
    record = json.loads(first["finetune.json"])
    assert record["options"]["rename"] == ["ip2_x"] and record["options"]["mean_value"] == [-1.5, 2.0, 3.0]
    shutil.move(work / "runs" / "flickr", work / "moved")
    capsys.readouterr()
    assert main(["finetune", "--options", "moved/finetune.json"]) == 0
    again = {p.name: p.read_bytes() for p in (work / "runs" / "flickr").iterdir()}
    assert again.keys() == first.keys()
    for name in first:
        if name == "finetune.json":
            assert json.loads(again[name]) == json.loads(first[name])
        else:
            assert again[name] == first[name], name
    solver = read_solver_text(work / "runs" / "flickr" / "solver.prototxt")
    assert solver.base_lr == pytest.approx(0.002) and solver.test_interval == 7


def test_options_alone_or_not_at_all(work, capsys):
    assert main(_args()) == 0
    capsys.readouterr()
    assert main(["finetune", "--options", "runs/flickr", "--max-iter", "5"]) != 0
    err = capsys.readouterr().err
    assert "give it alone, without --max-iter" in err and "Traceback" not in err
    (work / "old.json").write_text('{"sha256": {}}')
    assert main(["finetune", "--options", "old.json"]) != 0
    assert "holds no fine-tune options" in capsys.readouterr().err


def test_missing_start_or_data_is_one_line(work, capsys):
    argv = _args()
    i = argv.index("--weights")
    del argv[i:i + 2]
    assert main(argv) != 0
    assert "give --weights, --model or --snapshot" in capsys.readouterr().err
    argv = _args()
    i = argv.index("--val-db")
    del argv[i:i + 2]
    assert main(argv) != 0
    assert "give --val-db" in capsys.readouterr().err


def test_out_folder_of_a_running_training_is_not_rewritten(work, capsys):
    """A trainer holds runs/flickr (played here by this process's lock): its copies are left as they are."""
    import hashlib

    from tunewiz.runs.lock import lock_folder

    assert main(_args()) == 0
    capsys.readouterr()
    run = work / "runs" / "flickr"
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.iterdir()}
    with lock_folder(run, str):
        assert main(_args("--lr-divisor", "100", "--overwrite")) == 2
        err = capsys.readouterr().err
        before["tunewiz.lock"] = hashlib.sha256((run / "tunewiz.lock").read_bytes()).hexdigest()  # the owner's
        assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.iterdir()} == before
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "is the run folder of a training that is running: pid" in err and "nothing was written" in err
    assert main(_args("--lr-divisor", "100", "--overwrite")) == 0


def test_the_printed_next_line_trains_into_the_run_folder(work, capsys):
    """Issue 19: the `next:` line lacked --run_dir, so a copied one wrote train.log and events.jsonl into the
    working folder, where neither `tunewiz attach` nor `classify --run` looks."""
    import shlex

    assert main(_args("--max-iter", "2")) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("next: ")]
    argv = shlex.split(line.removeprefix("next: "))
    assert argv[:2] == ["tunewiz", "train"] and argv[argv.index("--run_dir") + 1] == str(work / "runs" / "flickr")
    assert main(argv[1:]) == 0
    run = work / "runs" / "flickr"
    assert (run / "train.log").is_file() and (run / "events.jsonl").is_file()
    assert not (work / "train.log").exists() and not (work / "events.jsonl").exists()
    assert (run / "flickr_iter_2.caffemodel").is_file()
