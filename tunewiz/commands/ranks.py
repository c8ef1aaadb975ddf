"""``tunewiz train --gpu 0,1`` / ``--gpu all``: one training process (rank) per GPU, on torch.distributed.

``tunewiz.engine.devices.rank_count`` says how many ranks ``--gpu`` asks for; :func:`supervise` starts them as
``python -m tunewiz train`` processes joined by the env:// rendezvous (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT: what torchrun sets, so ``torchrun --nproc_per_node N -m tunewiz train`` is the
same run), and waits for them as torchrun does.  Rank 0 owns the run folder (lock, log, events,
snapshots); the others say only their errors (:class:`RankLog`).  On a machine without
CUDA, ``--gpu 0,1`` trains with that many CPU ranks on gloo: the same effective batch as on the GPUs.

SIGINT/SIGHUP/SIGTERM sent to this supervisor go to every rank (each acts on it at the same iteration,
:mod:`tunewiz.engine.dist`).  A rank that ends with an error ends the run: the others get
``GRACE_S`` seconds to stop on their own (their collectives fail at once on gloo), then are killed, and
the supervisor says in one line which rank ended and how.

:func:`choose_device` is Caffe's device choice for every command (``-gpu``, solver_mode, the CPU).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from tunewiz.engine.train.caffelog import CaffeLog, prefix

GRACE_S = 15.0
FORWARDED = ("SIGINT", "SIGHUP", "SIGTERM")


class RankLog(CaffeLog):
    """The log of a rank other than 0: its errors on stderr, tagged with the rank (rank 0 says the rest)."""

    def __init__(self, rank: int) -> None:
        super().__init__(None, "stderr")
        self.rank = rank

    def log(self, key: str, message: str, severity: str = "I") -> None:
        if severity in ("E", "F"):
            super().log(key, f"rank {self.rank}: {message}", severity)


def choose_device(gpu: str, sp=None, log=None, local_rank: int | None = None) -> str:
    """Caffe's device choice: -gpu wins; else solver_mode GPU with device_id; the CPU (with a warning)
    when no CUDA device is there, so Caffe's documented `-gpu 0` commands run on any machine.  A rank of
    a multi-rank run (``local_rank``) takes the local_rank-th GPU listed (torchrun with solver_mode GPU
    and no -gpu: GPU local_rank)."""
    import torch

    from tunewiz.engine.devices import gpu_list

    if not gpu and sp is not None and sp.solver_mode == 1:  # GPU
        gpu = "all" if local_rank is not None else str(sp.device_id) if sp.HasField("device_id") else "0"
        if not torch.cuda.is_available():
            log.warning("caffe.cpp:197", "solver_mode is GPU but no CUDA device is available: using the CPU.")
            gpu = ""
    if not gpu:
        log.info("use_cpu", "Use CPU.")
        return "cpu"
    if not torch.cuda.is_available():
        # Caffe's documented commands carry -gpu 0; on a machine without CUDA they still run, on the CPU
        log.warning("caffe.cpp:197", f"-gpu {gpu}: no CUDA device is available here: using the CPU "
                                     "(leave -gpu out to say so).")
        log.info("use_cpu", "Use CPU.")
        return "cpu"
    ids = gpu_list(gpu)
    if local_rank is not None:
        log.info("use_gpu", f"Using GPUs {', '.join(map(str, ids))}")
        ids = [pick_gpu(ids, local_rank, gpu)]
    elif len(ids) > 1:
        log.warning("use_gpu", f"only tunewiz train uses several GPUs: using GPU {ids[0]} of {ids}.")
    if local_rank is None:
        log.info("use_gpu", f"Using GPUs {ids[0]}")
    log.info("caffe.cpp:223", f"GPU {ids[0]}: {torch.cuda.get_device_name(ids[0])}")
    return f"cuda:{ids[0]}"


def pick_gpu(ids: list[int], local_rank: int, gpu: str) -> int:
    """The GPU of the rank with ``local_rank`` on this machine: the local_rank-th of the ids given."""
    from tunewiz.errors import TunewizError

    if local_rank >= len(ids):
        raise TunewizError(f"-gpu {gpu or 'all'} gives {len(ids)} GPU(s) but this is local rank {local_rank}: "
                           f"start as many ranks per machine as GPUs listed (torchrun --nproc_per_node "
                           f"{len(ids)}), or list more GPUs.")
    return ids[local_rank]


def train_argv(args) -> list[str]:
    """``tunewiz train`` with the flags of ``args`` (what every rank runs)."""
    argv = ["train", "--solver", args.solver]
    for flag in ("weights", "snapshot", "gpu", "stage", "sigint_effect", "sighup_effect", "sigterm_effect",
                 "run_dir", "numerics"):
        value = getattr(args, flag, None)
        if value not in (None, ""):
            argv += [f"--{flag}", str(value)]
    return argv + ["--level", str(args.level)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_env(rank: int, size: int, port: int) -> dict:
    env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(size), LOCAL_WORLD_SIZE=str(size),
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    threads = str(max(1, (os.cpu_count() or 1) // size))  # the ranks share the cores
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(name, threads)
    return env


def supervise(args, size: int) -> int:
    """Start ``size`` ranks of ``tunewiz train`` here and wait for them; the run's exit code."""
    port = _free_port()
    argv = [sys.executable, "-m", "tunewiz", *train_argv(args)]
    procs = [subprocess.Popen(argv, env=_rank_env(rank, size, port)) for rank in range(size)]
    old = _forward_signals(procs)
    try:
        return _wait(procs)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        _end(procs, 0.0)


def _forward_signals(procs) -> dict:
    def forward(signum, frame):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    old = {}
    for name in FORWARDED:
        sig = getattr(signal, name, None)
        if sig is not None:
            old[sig] = signal.signal(sig, forward)
    return old


def _wait(procs) -> int:
    """Every rank's end; the first failure ends the others (see the module docstring)."""
    while True:
        codes = [p.poll() for p in procs]
        failed = [(rank, code) for rank, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            rank, code = failed[0]
            _end(procs, GRACE_S)
            how = f"was killed by signal {-code}" if code < 0 else f"ended with exit code {code}"
            sys.stderr.write(prefix("E", "parallel.cpp:1") + f"rank {rank} of {len(procs)} {how}: the run "
                             f"stopped on every rank (its own message above says why).\n")
            return code if code > 0 else 1
        if all(code == 0 for code in codes):
            return 0
        time.sleep(0.1)


def _end(procs, grace: float) -> None:
    """Let the ranks still running stop by themselves for ``grace`` seconds, then kill them."""
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
