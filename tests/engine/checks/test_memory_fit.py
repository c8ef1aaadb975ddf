"""Nets that do not fit in memory (issue 12): refused before anything is allocated, with the estimate and a
batch_size/iter_size that fits; allocations that fail anyway are one line too.

The free memory is monkeypatched (``tunewiz.engine.checks.memory.free_memory``): no test allocates a large batch,
and none depends on the machine's RAM.  A feed that would start reading a refused batch fails the test.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tunewiz.cli import main
from tunewiz.engine.checks import memory
from tunewiz.engine.checks.memory import Free

TRAINING = Path(__file__).resolve().parents[2] / "fixtures" / "training"
GiB = 1 << 30
ABSURD = ('name: "absurd"\n'
          'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 200000 '
          'dim: 200000 } } }\n'
          'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 4 '
          'kernel_size: 3 } }\n'
          'layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip" inner_product_param { num_output: 10 } }\n')


@pytest.fixture
def free(monkeypatch):
    """Set the free memory every check sees: ``free(8 * GiB)``; the host's too (the GPU case)."""
    def set_free(n: int, source: str = "MemAvailable in /proc/meminfo"):
        monkeypatch.setattr(memory, "free_memory", lambda device: Free(n, source))
        monkeypatch.setattr(memory, "host_free", lambda: Free(n, source))
    monkeypatch.delenv("TUNEWIZ_MEMORY_CHECK", raising=False)
    return set_free


@pytest.fixture
def no_feed(monkeypatch):
    """A refused batch must never reach the data feed (it would allocate it)."""
    from tunewiz.data import feed

    def refuse(self):
        raise AssertionError("the feed started a batch the memory check should have refused")
    monkeypatch.setattr(feed.Feed, "_submit", refuse)


def _workspace(tmp_path: Path, monkeypatch, train_batch: int = 16, test_batch: int = 25) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").symlink_to(TRAINING / "data")
    net = (TRAINING / "train_val.prototxt").read_text()
    net = net.replace("batch_size: 16", f"batch_size: {train_batch}").replace("batch_size: 25",
                                                                              f"batch_size: {test_batch}")
    (tmp_path / "net.prototxt").write_text(net)
    (tmp_path / "solver.prototxt").write_text('net: "net.prototxt"\ntest_iter: 2\ntest_interval: 10\nbase_lr: 0.01\n'
                                              'lr_policy: "fixed"\nmax_iter: 2\nsolver_mode: CPU\ntype: "Adam"\n')
    return tmp_path


def _error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("E") or "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


def test_a_huge_train_batch_is_refused_with_a_batch_and_iter_size_that_fit(tmp_path, monkeypatch, capsys, free,
                                                                           no_feed):
    _workspace(tmp_path, monkeypatch, train_batch=50_000_000)
    free(8 * GiB)
    rc = main(["train", "--solver", "solver.prototxt", "--run_dir", "run"])
    line = _error_line(capsys.readouterr().err)
    assert rc == 2
    assert "the TRAIN net 'LeNetRef' does not fit in memory: batch_size 50000000 of layer 'data'" in line
    assert "2 history" in line and "8.0 GiB of RAM is free (MemAvailable in /proc/meminfo)" in line  # Adam
    fit = int(re.search(r"At most ([\d,]+) images fit", line).group(1).replace(",", ""))
    b, k = (int(x) for x in re.search(r"use batch_size (\d+) in layer 'data' \(TRAIN\) with iter_size (\d+)",
                                       line).groups())
    assert b <= fit and b * k == 50_000_000 and "the same effective batch of 50000000" in line
    assert 100_000 < fit < 200_000  # LeNet: about 50 KiB per image in 90 % of 8 GiB


def test_the_proposed_batch_is_accepted(tmp_path, monkeypatch, free):
    """The counts the refusal uses accept the batch it proposes (and refuse one image more)."""
    from tunewiz.caffe.netio import read_solver
    from tunewiz.engine.checks import memcheck
    from tunewiz.engine.train.nets import train_net_param
    from tunewiz.engine.checks.memory import MemoryFitError

    _workspace(tmp_path, monkeypatch, train_batch=4096)
    sp = read_solver("solver.prototxt")
    sp.ClearField("test_iter")  # the train net alone
    sp.test_interval = 0

    class Log:
        def __getattr__(self, name):
            return lambda *a, **k: None
    param = train_net_param(sp, ".", Log())
    free(64 * GiB)
    memcheck.check_training(sp, param, "cpu")  # fits
    free(64 * 1 << 20)
    with pytest.raises(MemoryFitError) as info:
        memcheck.check_training(sp, param, "cpu")
    fit = int(re.search(r"At most ([\d,]+) images", str(info.value)).group(1).replace(",", ""))
    for layer in param.layer:
        if layer.type == "Data":
            layer.data_param.batch_size = fit
    memcheck.check_training(sp, param, "cpu")
    for layer in param.layer:
        if layer.type == "Data":
            layer.data_param.batch_size = fit + 1
    with pytest.raises(MemoryFitError):
        memcheck.check_training(sp, param, "cpu")


def test_a_huge_test_batch_names_the_test_net_and_test_iter(tmp_path, monkeypatch, capsys, free, no_feed):
    _workspace(tmp_path, monkeypatch, test_batch=10_000_000)
    free(2 * GiB)
    rc = main(["train", "--solver", "solver.prototxt", "--run_dir", "run"])
    line = _error_line(capsys.readouterr().err)
    assert rc == 2 and "test net #0 ('LeNetRef', TEST phase) does not fit in memory" in line
    b, iters = (int(x) for x in re.search(r"use batch_size (\d+) in layer 'data' \(TEST\) with test_iter (\d+)",
                                          line).groups())
    assert b * iters == 10_000_000 * 2  # the same images per test (test_iter was 2)


def test_test_command_proposes_batch_and_iterations(tmp_path, monkeypatch, capsys, free, no_feed):
    _workspace(tmp_path, monkeypatch, test_batch=10_000_000)
    free(1 * GiB)
    rc = main(["test", "--model", "net.prototxt", "--weights", str(TRAINING / "init.caffemodel"),
               "--iterations", "3"])
    line = _error_line(capsys.readouterr().err)
    assert rc == 2 and "the TEST net 'LeNetRef' (net.prototxt) does not fit in memory" in line
    assert "values per image = " in line and "gradient" not in line  # scoring keeps no gradients
    b, n = (int(x) for x in re.search(r"use batch_size (\d+) in layer 'data' and --iterations (\d+)", line).groups())
    assert b * n == 10_000_000 * 3


@pytest.mark.parametrize("command", ["forward", "test", "time"])
def test_an_absurd_input_shape_is_one_line(tmp_path, monkeypatch, capsys, free, command):
    monkeypatch.chdir(tmp_path)
    Path("absurd.prototxt").write_text(ABSURD)
    import numpy as np

    np.save("x.npy", np.zeros((1, 3, 8, 8), np.float32))
    free(16 * GiB)
    args = {"forward": ["--input", "data=x.npy", "--output", "o.npz"], "test": ["--weights", "w", "--iterations", "1"],
            "time": ["--iterations", "1"]}[command]
    rc = main([command, "--model", "absurd.prototxt", *args])
    line = _error_line(capsys.readouterr().err)
    assert rc == 2 and "(absurd.prototxt) does not fit in memory" in line
    assert "the Input shape 1x3x200000x200000 (layer 'data')" in line and "Even one image needs" in line
    assert not Path("o.npz").exists()


def test_forward_input_batch_too_large_proposes_the_first_dimension(tmp_path, monkeypatch, capsys, free):
    monkeypatch.chdir(tmp_path)
    Path("n.prototxt").write_text(ABSURD.replace("dim: 1 dim: 3 dim: 200000 dim: 200000",
                                                 "dim: 100000000 dim: 3 dim: 32 dim: 32"))
    import numpy as np

    np.save("x.npy", np.zeros((1, 3, 32, 32), np.float32))
    free(4 * GiB)
    rc = main(["forward", "--model", "n.prototxt", "--input", "data=x.npy", "--output", "o.npz"])
    line = _error_line(capsys.readouterr().err)
    fit = int(re.search(r"make the first dimension of the Input shape of layer 'data' at most (\d+)", line).group(1))
    assert rc == 2 and 10_000 < fit < 1_000_000 and "(and of the --input arrays)" in line


def test_on_a_gpu_the_reserve_and_the_gpu_are_named(tmp_path, monkeypatch, free):
    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.checks.memcheck import check_inference
    from tunewiz.engine.checks.memory import MemoryFitError

    monkeypatch.chdir(tmp_path)
    Path("n.prototxt").write_text(ABSURD.replace("dim: 1 dim: 3 dim: 200000 dim: 200000", "dim: 4096 dim: 3 dim: 64 "
                                                 "dim: 64"))
    free(1 * GiB, "free memory of GPU 0")
    param = read_net("n.prototxt")
    param.state.phase = 1
    with pytest.raises(MemoryFitError) as info:
        check_inference(param, "cuda:0", command="forward", where="n.prototxt")
    assert "1.0 GiB on GPU 0 is free (free memory of GPU 0)" in str(info.value)
    assert "reserve (CUDA context, workspaces): 512.0 MiB" in str(info.value)


def test_the_check_can_be_turned_off_and_unreadable_memory_checks_nothing(tmp_path, monkeypatch, free):
    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.checks.memcheck import check_inference

    monkeypatch.chdir(tmp_path)
    Path("a.prototxt").write_text(ABSURD)
    param = read_net("a.prototxt")
    free(1 * GiB)
    monkeypatch.setenv("TUNEWIZ_MEMORY_CHECK", "off")
    check_inference(param, "cpu")
    monkeypatch.delenv("TUNEWIZ_MEMORY_CHECK")
    monkeypatch.setattr(memory, "free_memory", lambda device: None)  # not Linux: nothing to compare with
    check_inference(param, "cpu")


# -- allocations that fail anyway ------------------------------------------------------------------------
def test_memory_error_in_a_training_pass_is_the_batch_advice(tmp_path, monkeypatch, capsys, free):
    from tunewiz.engine.net.net import Net

    _workspace(tmp_path, monkeypatch)
    free(64 * GiB)
    real = Net.forward

    def fail(self, inputs=None, retain_grad=False):
        if self.phase == 0:
            raise MemoryError()
        return real(self, inputs, retain_grad)
    monkeypatch.setattr(Net, "forward", fail)
    rc = main(["train", "--solver", "solver.prototxt", "--run_dir", "run"])
    line = _error_line(capsys.readouterr().err)
    assert rc == 2 and "the CPU ran out of memory with batch_size 16" in line
    assert "Use batch_size 8 in the TRAIN data layer with iter_size 2" in line


def test_memory_error_in_a_test_pass_names_the_test_net(tmp_path, monkeypatch, capsys, free):
    from tunewiz.engine.net.net import Net

    _workspace(tmp_path, monkeypatch)
    free(64 * GiB)
    real = Net.forward

    def fail(self, inputs=None, retain_grad=False):
        if self.phase == 1:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] . DefaultCPUAllocator: can't allocate memory: "
                               "you tried to allocate 2147483648 bytes. Error code 12 (Cannot allocate memory)")
        return real(self, inputs, retain_grad)
    monkeypatch.setattr(Net, "forward", fail)
    rc = main(["train", "--solver", "solver.prototxt", "--run_dir", "run"])
    line = _error_line(capsys.readouterr().err)
    assert rc == 2 and "the CPU ran out of memory while testing net #0 with batch_size 25" in line
    assert "one allocation of 2.0 GiB was refused" in line and "batch_size 12" in line and "test_iter 6" in line


CHILD = """
import resource, sys
from tunewiz.cli import main
import torch  # noqa: F401 - loaded before the limit: the limit is for the net, not for the libraries
vm = int(next(l for l in open('/proc/self/status') if l.startswith('VmSize')).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), resource.getrlimit(resource.RLIMIT_AS)[1]))
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmSize from /proc (Linux)")
@pytest.mark.parametrize("check", ["on", "off"])
def test_a_real_address_space_limit(tmp_path, check):
    """Under a real RLIMIT_AS (1 GiB above what the process holds): the check reads the limit's headroom and
    refuses; with the check off, the allocation itself fails and is the same kind of line."""
    (tmp_path / "n.prototxt").write_text(ABSURD.replace("dim: 200000 dim: 200000", "dim: 20000 dim: 20000"))
    env = dict(os.environ, TUNEWIZ_MEMORY_CHECK=check, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, "time", "--model", "n.prototxt", "--iterations", "1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    line = _error_line(proc.stderr)
    assert proc.returncode == 2
    if check == "on":
        assert "does not fit in memory" in line and "address-space limit (ulimit -v)" in line
    else:
        assert "the CPU ran out of memory while building the TRAIN net of n.prototxt" in line
        assert "was refused" in line


# -- reading the free memory -------------------------------------------------------------------------------
def test_meminfo_rlimit_and_cgroup_readings(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683792 kB\nMemFree:  100 kB\nMemAvailable:   2048 kB\n")
    assert memory._meminfo_available(str(meminfo)) == Free(2048 * 1024, "MemAvailable in /proc/meminfo")
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("1073741824\n")
    (v2 / "memory.current").write_text(str(900 << 20))
    (v2 / "memory.stat").write_text("anon 1\ninactive_file 400000000\n")  # cache the kernel can give back
    assert memory._cgroup_headroom(str(v2)).bytes == (1 << 30) - ((900 << 20) - 400000000)
    (v2 / "memory.max").write_text("max\n")
    assert memory._cgroup_headroom(str(v2)) is None
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "no limit"
    (v1 / "memory.usage_in_bytes").write_text("5\n")
    assert memory._cgroup_headroom(str(v1.parent)) is None
    (v1 / "memory.limit_in_bytes").write_text(str(2 << 30))
    assert memory._cgroup_headroom(str(v1.parent)).bytes == (2 << 30) - 5
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda which: (3 << 30, resource.RLIM_INFINITY))
    monkeypatch.setattr(memory, "_vm_size", lambda path="": 1 << 30)
    assert memory._rlimit_headroom().bytes == 2 << 30
    monkeypatch.setattr(memory, "_meminfo_available", lambda path="": Free(5 << 30, "MemAvailable"))
    monkeypatch.setattr(memory, "_cgroup_headroom", lambda root="": None)
    assert memory.host_free().bytes == 2 << 30 and "ulimit -v" in memory.host_free().source  # the smallest


def test_what_counts_as_an_allocation_failure():
    import torch

    assert memory.is_allocation_failure(MemoryError())
    assert memory.is_allocation_failure(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to "
                                                     "allocate 6399872000640 bytes."))
    assert memory.is_allocation_failure(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not memory.is_allocation_failure(RuntimeError("shape mismatch"))
    assert not memory.is_allocation_failure(ValueError("out of memory"))
    refused = memory.refused_bytes(RuntimeError("Tried to allocate 2.00 GiB"))
    assert refused == " (one allocation of 2.0 GiB was refused)"
