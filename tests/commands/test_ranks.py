"""``tunewiz train`` on several ranks (gloo on the CPU): ``--gpu 0,1`` without CUDA, torchrun, and ranks
started by hand with torchrun's environment.  Two ranks of batch 16 train as one process of batch 32;
snapshots and resume work; a rank that dies, or a SIGINT on one rank, ends every rank."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine" / "train"))
from training_util import max_rel, weights_of, workdir  # noqa: E402

from tunewiz.cli import main  # noqa: E402
from tunewiz.commands import ranks  # noqa: E402

ENV = dict(os.environ, OMP_NUM_THREADS="1", TUNEWIZ_DIST_TIMEOUT="60")
SOLVER = """net: "{net}"
type: "SGD"
base_lr: 0.01
momentum: 0.9
weight_decay: 0.0005
lr_policy: "inv"
gamma: 0.0001
power: 0.75
display: 5
max_iter: {max_iter}
snapshot: {snapshot}
snapshot_prefix: "{name}/lenet"
test_iter: 2
test_interval: 10
random_seed: 1701
"""


def _setup(root: Path, name: str, batch: int, max_iter: int = 20, snapshot: int = 10) -> str:
    """A solver of LeNet with the TRAIN batch ``batch``, snapshots into root/name/; its path."""
    (root / name).mkdir()
    net = (root / "sgd_inv" / "train_val.prototxt").read_text().replace("batch_size: 16", f"batch_size: {batch}")
    (root / name / "train_val.prototxt").write_text(net)
    (root / name / "solver.prototxt").write_text(SOLVER.format(net=f"{name}/train_val.prototxt", name=name,
                                                                max_iter=max_iter, snapshot=snapshot))
    return f"{name}/solver.prototxt"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return workdir(tmp_path_factory.mktemp("ranks"), "sgd_inv", caffe_snapshots=False)


@pytest.fixture(scope="module")
def single(root):
    """The weights after 20 iterations of one process with batch 32."""
    solver = _setup(root, "single", 32)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert main(["train", "--solver", solver, "--weights", "init.caffemodel", "--run_dir", "single"]) == 0
    finally:
        os.chdir(cwd)
    return weights_of(root / "single" / "lenet_iter_20.caffemodel")


def _tunewiz(root: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], cwd=root, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def _close_to(weights: dict, expected: dict) -> None:
    assert weights.keys() == expected.keys()
    worst = max(max_rel(weights[k], expected[k]) for k in expected)
    assert worst < 1e-5, worst


def test_gpu_list_without_cuda_trains_two_cpu_ranks_as_one_process_of_twice_the_batch(root, single):
    solver = _setup(root, "two", 16)
    done = _tunewiz(root, "tunewiz", "train", "--solver", solver, "--weights", "init.caffemodel", "--gpu", "0,1",
                    "--run_dir", "two")
    assert done.returncode == 0, done.stderr[-3000:]
    _close_to(weights_of(root / "two" / "lenet_iter_20.caffemodel"), single)
    log = (root / "two" / "train.log").read_text()
    assert log.count("Testing net (#0)") == 3 and "Optimization Done." in log  # rank 0 tests, logs
    assert "rank 1" not in done.stderr and done.stderr.count("Starting Optimization") == 1
    # resume both ranks from iteration 10: the same weights at 20
    for path in (root / "two").glob("lenet_iter_20.*"):
        path.unlink()
    again = _tunewiz(root, "tunewiz", "train", "--solver", solver, "--snapshot", "two/lenet_iter_10.solverstate",
                     "--gpu", "0,1", "--run_dir", "two")
    assert again.returncode == 0, again.stderr[-3000:]
    _close_to(weights_of(root / "two" / "lenet_iter_20.caffemodel"), single)


def test_torchrun_ranks_join_one_group(root, single):
    solver = _setup(root, "torchrun", 16)
    done = _tunewiz(root, "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "tunewiz",
                    "train", "--solver", solver, "--weights", "init.caffemodel", "--run_dir", "torchrun")
    assert done.returncode == 0, done.stderr[-3000:]
    _close_to(weights_of(root / "torchrun" / "lenet_iter_20.caffemodel"), single)


def _start_ranks(root: Path, solver: str, run_dir: str) -> list[subprocess.Popen]:
    """Two ranks started by hand with torchrun's environment (so the test knows their pids)."""
    port = ranks._free_port()
    procs = []
    for rank in range(2):
        env = dict(ENV, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port))
        procs.append(subprocess.Popen([sys.executable, "-m", "tunewiz", "train", "--solver", solver, "--weights",
                                       "init.caffemodel", "--run_dir", run_dir], cwd=root, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def _wait_for_iterations(events: Path, count: int, procs) -> None:
    deadline = time.time() + 90
    while time.time() < deadline:
        if events.exists() and events.read_text().count('"event": "iteration"') >= count:
            return
        assert all(p.poll() is None for p in procs), [p.communicate()[1][-1500:] for p in procs]
        time.sleep(0.1)
    raise AssertionError(f"no {count} iterations in {events}")


def test_a_rank_that_dies_ends_the_others_with_one_message(root):
    solver = _setup(root, "dies", 16, max_iter=100000, snapshot=0)
    procs = _start_ranks(root, solver, "dies")
    try:
        _wait_for_iterations(root / "dies" / "events.jsonl", 3, procs)
        procs[1].kill()
        _, err = procs[0].communicate(timeout=60)
    finally:
        for p in procs:
            p.kill()
            p.communicate()
    assert procs[0].returncode not in (0, None)
    errors = [line for line in err.splitlines() if line.startswith("E")]
    assert len(errors) == 1 and "another rank of this run stopped" in errors[0], err[-3000:]
    assert "Traceback" not in err


def test_sigint_on_one_rank_stops_every_rank_with_a_snapshot(root):
    solver = _setup(root, "sigint", 16, max_iter=100000, snapshot=0)
    procs = _start_ranks(root, solver, "sigint")
    try:
        _wait_for_iterations(root / "sigint" / "events.jsonl", 3, procs)
        procs[1].send_signal(signal.SIGINT)
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.communicate()
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-3000:] + outs[1][1][-3000:]
    log = (root / "sigint" / "train.log").read_text()
    assert "Stopped: stop requested" in log and list((root / "sigint").glob("lenet_iter_*.solverstate"))


def test_supervisor_says_which_rank_ended_and_stops_the_others(monkeypatch, capsys):
    monkeypatch.setattr(ranks, "GRACE_S", 0.2)
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]),
             subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])]
    start = time.time()
    assert ranks._wait(procs) == 3
    assert time.time() - start < 30 and procs[0].poll() is not None
    assert "rank 1 of 2 ended with exit code 3" in capsys.readouterr().err


def test_rank_count_and_gpu_pick():
    from tunewiz.engine.devices import rank_count

    assert rank_count("0,1") == 2 and rank_count("3") == 1
    assert ranks.pick_gpu([2, 3], 1, "2,3") == 3
    with pytest.raises(Exception, match="nproc_per_node 2"):
        ranks.pick_gpu([2, 3], 2, "2,3")
