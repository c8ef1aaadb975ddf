"""``tunewiz train|test|time`` on the command line, Caffe's log format, and each bad input / fault."""
from __future__ import annotations

import datetime
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from training_util import FIX, of_kind, run_solver, workdir  # noqa: E402

from tunewiz.cli import main  # noqa: E402


def _solver(root: Path, run: str, **fields) -> str:
    """A copy of a run's solver with fields changed; returns its path relative to root."""
    from tunewiz.caffe.netio import read_solver
    from tunewiz.caffe.prototxt import to_text

    sp = read_solver(root / run / "solver.prototxt")
    for key, value in fields.items():
        setattr(sp, key, value)
    path = root / run / "edited_solver.prototxt"
    path.write_text(to_text(sp))
    return f"{run}/edited_solver.prototxt"


def parse_log(path: Path):
    """Caffe's tools/extra/parse_log.py + extract_seconds.py, reduced to their parsing rules."""
    re_iter = re.compile(r"Iteration (\d+)")
    re_train = re.compile(r"Train net output #(\d+): (\S+) = ([\.\deE+-]+)")
    re_test = re.compile(r"Test net output #(\d+): (\S+) = ([\.\deE+-]+)")
    re_lr = re.compile(r"lr = ([-+]?[0-9]*\.?[0-9]+([eE]?[-+]?[0-9]+)?)")

    def when(line):
        parts = line.strip().split()
        month, day = int(parts[0][1:3]), int(parts[0][3:])
        stamp = parts[1]
        pos = stamp.rfind(".")
        h, m, s = (int(x) for x in stamp[:pos].split(":"))
        return datetime.datetime(2026, month, day, h, m, s, int(stamp[pos + 1:]))

    train, test, iteration, lr = [], [], -1, float("nan")
    with open(path) as f:
        start = next(when(line) for line in f if "Solving" in line)
        for line in f:
            match = re_iter.search(line)
            if match:
                iteration = float(match.group(1))
            if iteration == -1:
                continue
            seconds = (when(line) - start).total_seconds()
            match = re_lr.search(line)
            if match:
                lr = float(match.group(1))
            for regex, rows in ((re_train, train), (re_test, test)):
                match = regex.search(line)
                if match:
                    rows.append((iteration, seconds, lr, match.group(2), float(match.group(3))))
    return train, test


def test_train_cli_writes_caffe_log_events_and_snapshots(tmp_path, monkeypatch):
    root = workdir(tmp_path, "sgd_inv", caffe_snapshots=False)
    monkeypatch.chdir(root)
    solver = _solver(root, "sgd_inv", max_iter=12, snapshot=6)
    assert main(["train", "--solver", solver, "--weights", "init.caffemodel", "--run_dir", "run"]) == 0
    for n in (6, 12):
        assert (root / "sgd_inv" / f"sgd_inv_iter_{n}.caffemodel").is_file()
        assert (root / "sgd_inv" / f"sgd_inv_iter_{n}.solverstate").is_file()
    events = [json.loads(line) for line in (root / "run" / "events.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished" and kinds.count("iteration") == 12
    from tunewiz.runs.follow import load_history  # the wizard's progress panel reads the same file

    history = load_history(root / "run")
    assert history.state == "finished" and list(history.iters) == list(range(12)) and history.max_iter == 12
    assert list(history.accuracy) == [pytest.approx(0.26), pytest.approx(0.66)] and len(history.snapshots) == 4
    train, test = parse_log(root / "run" / "train.log")
    assert [r[0] for r in train] == list(range(12))
    assert train[0][4] == pytest.approx(1.40671, rel=1e-5)
    assert [(r[0], r[3]) for r in test[:2]] == [(0, "accuracy"), (0, "loss")]
    text = (root / "run" / "train.log").read_text()
    assert "Finetuning from init.caffemodel" in text
    assert all(re.match(r"^[IWEF]\d{4} ", line) for line in text.splitlines())


def test_weights_and_snapshot_together_is_caffes_error(tmp_path, monkeypatch, capsys):
    root = workdir(tmp_path, "sgd_inv")
    monkeypatch.chdir(root)
    code = main(["train", "--solver", "sgd_inv/solver.prototxt", "--weights", "init.caffemodel",
                 "--snapshot", "sgd_inv/sgd_inv_iter_25.solverstate"])
    assert code != 0
    assert "Give a snapshot to resume training or weights to finetune but not both" in capsys.readouterr().err


def test_unwritable_snapshot_folder_found_before_training(tmp_path, monkeypatch, capsys):
    root = workdir(tmp_path, "sgd_inv")
    monkeypatch.chdir(root)
    solver = _solver(root, "sgd_inv", snapshot_prefix="no_such_folder/x")
    assert main(["train", "--solver", solver, "--weights", "init.caffemodel", "--run_dir", "run"]) != 0
    assert "Cannot write to snapshot prefix 'no_such_folder/x'" in capsys.readouterr().err
    kinds = [json.loads(line)["event"] for line in (root / "run" / "events.jsonl").read_text().splitlines()]
    assert kinds == ["stopped", "finished"]


def test_gpu_flag_without_cuda_trains_on_the_cpu_and_says_so(tmp_path, monkeypatch, capsys):
    """Caffe's readme commands carry ``-gpu 0``: on a machine without CUDA they run, on the CPU."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(STATE_NET)
    (tmp_path / "solver.prototxt").write_text('net: "net.prototxt" base_lr: 0.01 lr_policy: "fixed" max_iter: 2')
    assert main(["train", "-solver", "solver.prototxt", "-gpu", "0", "-run_dir", "run"]) == 0
    err = capsys.readouterr().err
    assert err.count("-gpu 0: no CUDA device is available here: using the CPU") == 1 and "Use CPU." in err


def test_gpu_id_the_machine_lacks_is_one_line(tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(STATE_NET)
    (tmp_path / "solver.prototxt").write_text('net: "net.prototxt" base_lr: 0.01 lr_policy: "fixed" max_iter: 2')
    assert main(["train", "-solver", "solver.prototxt", "-gpu", "0,3", "-run_dir", "run"]) != 0
    err = capsys.readouterr().err
    assert "there is no GPU 3; this machine has 1" in err and "Traceback" not in err


def _bad_label_db(root: Path) -> None:
    import lmdb

    from tunewiz.caffe import caffe_pb2

    src = lmdb.open(str(FIX / "data" / "train_lmdb"), readonly=True, lock=False)
    dst = lmdb.open(str(root / "bad_lmdb"), map_size=1 << 24)
    with src.begin() as rt, dst.begin(write=True) as wt:
        for i, (key, value) in enumerate(rt.cursor()):
            if i == 20:
                datum = caffe_pb2.Datum()
                datum.ParseFromString(value)
                datum.label = 7
                value = datum.SerializeToString()
            wt.put(key, value)
    src.close()
    dst.close()


def test_label_out_of_range_names_label_record_and_layer(tmp_path):
    from tunewiz.engine.train.labelguard import LabelError

    root = workdir(tmp_path, "sgd_inv")
    _bad_label_db(root)
    net = (root / "sgd_inv" / "train_val.prototxt").read_text().replace('"data/train_lmdb"', '"bad_lmdb"')
    (root / "sgd_inv" / "train_val.prototxt").write_text(net)
    with pytest.raises(LabelError) as info:
        run_solver(root, "sgd_inv", edit=lambda sp: setattr(sp, "test_initialization", False))
    text = str(info.value)
    assert "label 7" in text and "00000020_" in text and "'loss'" in text and "'ip2' has 4 outputs" in text


def test_nan_loss_stops_with_hint_and_keeps_the_last_snapshot(tmp_path):
    from tunewiz.engine.train.iteration import TrainingDiverged

    root = workdir(tmp_path, "sgd_inv")

    def edit(sp):
        sp.base_lr, sp.snapshot, sp.lr_policy, sp.momentum = 1e4, 1, "fixed", 0.0
    seen = []
    with pytest.raises(TrainingDiverged) as info:
        run_solver(root, "sgd_inv", edit=edit, on_event=seen.append)
    assert [e.kind for e in seen[-2:]] == ["stopped", "finished"] and "diverged" in seen[-2].reason
    text = str(info.value)
    assert "iteration" in text and "Lower base_lr" in text
    last = re.search(r"last good snapshot is (\S+)\.solverstate", text).group(1)
    assert (root / f"{last}.solverstate").is_file() and (root / f"{last}.caffemodel").is_file()


def test_disk_full_during_snapshot_keeps_the_previous_one(tmp_path, monkeypatch):
    from tunewiz.engine.train import snapshot as snap

    root = workdir(tmp_path, "sgd_inv")
    before = (root / "sgd_inv" / "sgd_inv_iter_25.solverstate").read_bytes()
    real = snap._write_fsync

    def full(path, data):
        if "iter_25" in str(path) and f".solverstate.tunewiz-{os.getpid()}-" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)
    monkeypatch.setattr(snap, "_write_fsync", full)
    with pytest.raises(snap.SnapshotError, match="No space left.*previous snapshot is intact"):
        run_solver(root, "sgd_inv", edit=lambda sp: setattr(sp, "max_iter", 26))
    assert (root / "sgd_inv" / "sgd_inv_iter_25.solverstate").read_bytes() == before
    assert not [p for p in (root / "sgd_inv").iterdir() if ".tmp" in p.name]


def test_cuda_out_of_memory_suggests_batch_and_iter_size(tmp_path, monkeypatch):
    import torch

    from tunewiz.engine.devices import DeviceError
    from tunewiz.engine.net.net import Net

    root = workdir(tmp_path, "sgd_inv")

    def oom(self, inputs=None, retain_grad=False):
        if self.phase == 0:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, inputs, retain_grad)
    real = Net.forward
    monkeypatch.setattr(Net, "forward", oom)
    with pytest.raises(DeviceError) as info:
        run_solver(root, "sgd_inv", edit=lambda sp: setattr(sp, "iter_size", 2))
    assert "batch_size 16" in str(info.value) and "batch_size 8" in str(info.value)
    assert "iter_size 4" in str(info.value)


def test_signals_snapshot_then_stop(tmp_path):
    root = workdir(tmp_path, "sgd_inv", caffe_snapshots=False)
    solver = _solver(root, "sgd_inv", max_iter=100000, snapshot=0, test_initialization=False)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "tunewiz", "train", "--solver", solver, "--weights",
                             "init.caffemodel", "--run_dir", "run"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    events = root / "run" / "events.jsonl"

    def wait_for(text, count=1):
        deadline = time.time() + 60
        while time.time() < deadline:
            if events.exists() and events.read_text().count(text) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"no {text} in events")
    try:
        wait_for('"iteration"', 3)
        proc.send_signal(signal.SIGHUP)
        wait_for('"snapshot"')
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    finally:
        proc.kill()
    kinds = [json.loads(line)["event"] for line in events.read_text().splitlines()]
    assert kinds.count("snapshot") == 2 and kinds[-2:] == ["stopped", "finished"]
    log = (root / "run" / "train.log").read_text()
    assert "Optimization stopped early." in log


def test_test_and_time_commands(tmp_path, monkeypatch, capsys):
    root = workdir(tmp_path, "sgd_inv")
    monkeypatch.chdir(root)
    (root / "w.caffemodel").symlink_to(FIX / "sgd_inv" / "sgd_inv_iter_50.caffemodel")
    assert main(["test", "--model", "sgd_inv/train_val.prototxt", "--weights", "w.caffemodel",
                 "--iterations", "2"]) == 0
    err = capsys.readouterr().err
    assert "] accuracy = 0.94" in err and "] loss = 0.242402 (* 1 = 0.242402 loss)" in err  # Caffe's test at 50
    assert main(["test", "--model", "sgd_inv/train_val.prototxt"]) != 0
    assert "Need model weights to score" in capsys.readouterr().err
    assert main(["time", "--model", "sgd_inv/train_val.prototxt", "--iterations", "2"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"conv1\tforward: [\d.]+ ms\.", err) and re.search(r"conv1\tbackward: [\d.]+ ms\.", err)
    assert "Average Forward-Backward" in err


def test_finetune_logs_say_what_caffe_says(tmp_path):
    root = workdir(tmp_path, "finetune_rename", "finetune_mismatch", "sgd_inv")
    _, lines = run_solver(root, "finetune_rename", weights=["sgd_inv/sgd_inv_iter_50.caffemodel"])
    caffe = [re.sub(r"^\S+ \S+ +\d+ ", "", line) for line in
             (FIX / "finetune_rename" / "caffe_lines.txt").read_text().splitlines()[:4]]
    ours = [re.sub(r"^\S+ \S+ +\d+ ", "", line) for line in lines
            if "Finetuning" in line or "Ignoring" in line]
    assert ours == caffe
    from tunewiz.errors import TunewizError

    with pytest.raises(TunewizError) as info:
        run_solver(root, "finetune_mismatch", weights=["sgd_inv/sgd_inv_iter_50.caffemodel"])
    assert ("Cannot copy param 0 weights from layer 'ip2'; shape mismatch.  Source param shape is 4 100 (400); "
            "target param shape is 3 100 (300). To learn this layer's parameters from scratch rather than "
            "copying from a saved net, rename the layer.") in str(info.value)


def test_out_of_memory_advice_is_the_recipe_advisors(monkeypatch):
    """One rule: the trainer's OOM message and the recipe's advisor both ask tunewiz.engine.checks.batchsplit."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.engine.checks import batchsplit
    from tunewiz.engine.devices import DeviceError, out_of_memory
    from tunewiz.recipe import batch

    sp = caffe_pb2.SolverParameter(iter_size=3)
    asked = []
    real = batchsplit.after_oom
    monkeypatch.setattr(batchsplit, "after_oom", lambda b, k=1: asked.append((b, k)) or real(b, k))
    err = out_of_memory(RuntimeError("CUDA out of memory"), sp=sp, batch=7, device="cuda:0")
    advice = batch.suggest_after_oom(7, 3)
    assert asked[-1] == (7, 3)
    asked.pop()
    assert asked == [(7, 3)] and isinstance(err, DeviceError)
    assert f"Use batch_size {advice.batch_size} " in str(err) and f"iter_size {advice.iter_size} " in str(err)
    assert "effective batch 21" in str(err)
    err = out_of_memory(RuntimeError("CUDA out of memory"), sp=caffe_pb2.SolverParameter(), batch=1, device="cuda:0")
    assert "batch_size 1" in str(err) and "does not fit" in str(err)


STATE_NET = """name: "state"
layer { name: "data" type: "DummyData" top: "data" top: "target"
  dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 2 dim: 2 }
                     data_filler { type: "constant" value: 1 } data_filler { type: "constant" value: 0 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param { num_output: 2 weight_filler { type: "constant" value: 0.5 } } }
layer { name: "loss" type: "EuclideanLoss" bottom: "ip" bottom: "target" top: "loss" }
layer { name: "staged" type: "EuclideanLoss" bottom: "ip" bottom: "target" top: "staged" include { stage: "extra" } }
layer { name: "leveled" type: "EuclideanLoss" bottom: "ip" bottom: "target" top: "leveled" include { min_level: 2 } }
"""


@pytest.mark.parametrize("flags, present", [([], set()), (["--stage", "other,extra"], {"staged"}),
                                            (["--level", "2"], {"leveled"})])
def test_level_and_stage_pick_the_train_net_layers(tmp_path, monkeypatch, capsys, flags, present):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(STATE_NET)
    (tmp_path / "solver.prototxt").write_text('net: "net.prototxt" base_lr: 0.01 lr_policy: "fixed" max_iter: 1 '
                                              'display: 1')
    assert main(["train", "--solver", "solver.prototxt", "--run_dir", "run", *flags]) == 0
    outputs = set(re.findall(r"Train net output #\d+: (\w+) =", capsys.readouterr().err))
    assert outputs == {"loss"} | present


@pytest.mark.parametrize("sigint, sighup", [("none", "stop"), ("snapshot", "none")])
def test_signal_effects_are_what_the_flags_say(sigint, sighup):
    import argparse
    import threading

    from tunewiz.commands.train import _signals

    stop, snap = threading.Event(), threading.Event()
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs in a background job
    restore = _signals(argparse.Namespace(sigint_effect=sigint, sighup_effect=sighup, sigterm_effect="stop"),
                       stop, snap)
    try:
        for sig, effect in ((signal.SIGINT, sigint), (signal.SIGHUP, sighup)):
            stop.clear(), snap.clear()
            os.kill(os.getpid(), sig)
            time.sleep(0.05)
            assert (stop.is_set(), snap.is_set()) == (effect == "stop", effect == "snapshot"), (sig, effect)
    finally:
        restore()
    assert signal.getsignal(signal.SIGINT) is before


def test_solver_mode_gpu_without_cuda_trains_on_the_cpu_and_says_so_once(tmp_path, monkeypatch, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(STATE_NET)
    (tmp_path / "solver.prototxt").write_text('net: "net.prototxt" base_lr: 0.01 lr_policy: "fixed" max_iter: 2 '
                                              'solver_mode: GPU device_id: 0')
    assert main(["train", "--solver", "solver.prototxt", "--run_dir", "run"]) == 0
    err = capsys.readouterr().err
    assert err.count("no CUDA device") == 1 and err.count("Use CPU.") == 1
    started = json.loads((tmp_path / "run" / "events.jsonl").read_text().splitlines()[0])
    assert started["event"] == "started" and "cpu" in json.dumps(started)


def test_upgrade_notes_are_caffes_log_lines(tmp_path, monkeypatch, capsys):
    """An old solver (solver_type enum) and a V1 net: Caffe's upgrade lines, each with the prefix."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.prototxt import parse_text, to_text

    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(STATE_NET)
    (tmp_path / "solver.prototxt").write_text('net: "net.prototxt" base_lr: 0.01 lr_policy: "fixed" max_iter: 1 '
                                              'solver_type: NESTEROV momentum: 0.9')
    assert main(["train", "--solver", "solver.prototxt", "--run_dir", "run"]) == 0
    log = (tmp_path / "run" / "train.log").read_text()
    assert re.search(r"^I\d{4} .*upgrade_proto.cpp:\d+\] Attempting to upgrade input file specified using "
                     r"deprecated 'solver_type' field", log, re.M)
    assert re.search(r"^W\d{4} .*\] Note that future Caffe releases will only support 'type' field", log, re.M)
    v1 = caffe_pb2.NetParameter()
    v1.name = "v1"
    layer = v1.layers.add(name="data", type=caffe_pb2.V1LayerParameter.DUMMY_DATA, top=["data", "target"])
    layer.dummy_data_param.CopyFrom(parse_text(STATE_NET, caffe_pb2.NetParameter()).layer[0].dummy_data_param)
    ip = v1.layers.add(name="ip", type=caffe_pb2.V1LayerParameter.INNER_PRODUCT, bottom=["data"], top=["ip"])
    ip.inner_product_param.num_output = 2
    ip.inner_product_param.weight_filler.type = "xavier"
    v1.layers.add(name="loss", type=caffe_pb2.V1LayerParameter.EUCLIDEAN_LOSS, bottom=["ip", "target"],
                  top=["loss"])
    (tmp_path / "v1.prototxt").write_text(to_text(v1))
    (tmp_path / "solver.prototxt").write_text('net: "v1.prototxt" base_lr: 0.01 lr_policy: "fixed" max_iter: 1')
    capsys.readouterr()
    assert main(["train", "--solver", "solver.prototxt", "--run_dir", "run2"]) == 0
    log = (tmp_path / "run2" / "train.log").read_text()
    assert "deprecated V1LayerParameter: v1.prototxt" in log
    assert all(re.match(r"^[IWEF]\d{4} ", line) for line in log.splitlines())
