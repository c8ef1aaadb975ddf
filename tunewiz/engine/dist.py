"""Several trainers as one: Caffe's multi-GPU training (``parallel.cpp``) on ``torch.distributed``.

A :class:`World` is this process's place in a group of ranks (one per GPU, or CPU ranks on gloo).
Caffe's semantics, which make N ranks of batch b train as one process of batch N*b:

* every rank runs the net's batch_size and reads the records whose position modulo the world size is
  its rank (``DataLayer::Skip``; the feeds take :attr:`World.shard`);
* after the forward/backward passes the gradients of all learnable params, as one flat buffer (Caffe's
  ``diff_``), are summed over the ranks and scaled by 1/world size (``NCCL::on_gradients_ready``:
  ``ncclAllReduce(sum)`` then ``caffe_gpu_scal(1 / solver_count)``) -- before clipping, iter_size's
  normalisation, regularisation and the update, so the order of Caffe's ``ApplyUpdate`` is kept;
* rank 0's weights are broadcast once after the solver is built (``NCCL::Broadcast``);
* TEST runs on rank 0 alone; rank 0 alone logs, writes events and snapshots (it owns the run folder).

Beyond Caffe: the loss of each iteration is averaged over the ranks (so the log shows the loss of the
whole N*b batch, and a loss that is NaN on one rank stops every rank before the update), and stop and
snapshot requests (SIGINT/SIGHUP/SIGTERM) on any rank are acted on by all at the same iteration.

The collectives are explicit (no DistributedDataParallel): DDP averages in its own buckets during the
backward pass and offers no place for Caffe's "sum, scale, then clip/regularise" between them; one
all-reduce of one flat buffer per iteration is also what Caffe does.  A rank that dies makes the
collectives of the others fail (gloo: at once, the socket closes; NCCL: after the group's timeout,
``TUNEWIZ_DIST_TIMEOUT`` seconds, default 1800); that failure is one :class:`RankLost` message.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import numpy as np
import torch

from tunewiz.errors import TunewizError

ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class RankLost(TunewizError):
    """Another rank of the run stopped (died, or failed): this one cannot go on alone."""


@dataclass(frozen=True)
class World:
    """This process's rank in a world of ``size`` ranks (``size`` 1: no group, every call is a no-op)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def root(self) -> bool:
        """Caffe's ``root_solver()``: the rank that tests, logs and snapshots."""
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int] | None:
        """(rank, size) for the TRAIN feeds, or None alone."""
        return (self.rank, self.size) if self.size > 1 else None

    # -- the collectives of one iteration ------------------------------------------------------
    def reduce_gradients(self, params) -> None:
        """Every learnable param's ``.grad`` = (sum over ranks) * float32(1 / size), as one flat buffer."""
        if self.size == 1:
            return
        tensors = [info.param for info in params]
        flat = torch.cat([_grad(p).reshape(-1) for p in tensors])
        _collective(lambda: torch.distributed.all_reduce(flat))
        flat.mul_(float(np.float32(1.0) / np.float32(self.size)))
        start = 0
        for p in tensors:
            n = p.numel()
            p.grad = flat[start:start + n].view_as(p).clone()
            start += n

    def mean_loss(self, loss: np.float32) -> np.float32:
        """The float32 mean of the ranks' losses (the loss of the whole N*b batch)."""
        if self.size == 1:
            return loss
        total = self._sum([float(loss)])[0]
        return np.float32(np.float32(total) / np.float32(self.size))

    def requests(self, stop: bool, snapshot: bool) -> tuple[bool, bool]:
        """Whether any rank was asked to stop / to snapshot (SIGINT, SIGHUP, SIGTERM on any rank)."""
        if self.size == 1:
            return stop, snapshot
        s, n = self._sum([float(stop), float(snapshot)])
        return s > 0, n > 0

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (after a test that only rank 0 ran)."""
        if self.size == 1:
            return flag
        t = torch.tensor([float(flag)], dtype=torch.float64, device=self._device())
        _collective(lambda: torch.distributed.broadcast(t, src=0))
        return bool(t.item())

    def broadcast_params(self, params) -> None:
        """Rank 0's weights on every rank (``NCCL::Broadcast``)."""
        if self.size == 1:
            return
        for info in params:
            _collective(lambda: torch.distributed.broadcast(info.param.data, src=0))

    def _sum(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self._device())
        _collective(lambda: torch.distributed.all_reduce(t))
        return t.tolist()

    def _device(self):
        return torch.device("cuda", torch.cuda.current_device()) if self.backend == "nccl" else "cpu"

    def close(self) -> None:
        if self.size > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


ALONE = World()


def _grad(p: torch.Tensor) -> torch.Tensor:
    return p.grad.detach() if p.grad is not None else torch.zeros_like(p.data)


def _collective(call) -> None:
    try:
        call()
    except (RuntimeError, ValueError) as exc:  # gloo: "Connection closed by peer"; NCCL: timeouts, aborts
        raise RankLost(lost_message(str(exc))) from None


def lost_message(detail: str) -> str:
    first = detail.strip().splitlines()[0] if detail.strip() else "no reason given"
    return (f"another rank of this run stopped, so this one stops too ({first[:200]}). Its own message "
            f"says why; fix that and start the run again (resume from the last snapshot with --snapshot).")


def env_world() -> tuple[int, int, int] | None:
    """(rank, size, local_rank) of a group started by torchrun (or ``tunewiz train --gpu 0,1``), else None."""
    if not all(os.environ.get(k) for k in ENV):
        return None
    try:
        rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise TunewizError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers (torchrun sets them).") from None
    if not 0 <= rank < size:
        raise TunewizError(f"RANK {rank} is outside WORLD_SIZE {size}.")
    return rank, size, local


def timeout_s() -> float:
    return float(os.environ.get("TUNEWIZ_DIST_TIMEOUT", "1800"))


def join(rank: int, size: int, local_rank: int, device: str) -> World:
    """Join the group (env:// rendezvous: MASTER_ADDR/MASTER_PORT): NCCL on CUDA, gloo on the CPU."""
    if size == 1:
        return World(rank, 1, local_rank, "")
    backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(torch.device(device))
    try:
        torch.distributed.init_process_group(backend, rank=rank, world_size=size,
                                             timeout=datetime.timedelta(seconds=timeout_s()))
    except (RuntimeError, ValueError) as exc:
        raise RankLost(f"rank {rank} of {size} could not join the others at "
                       f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')} "
                       f"({str(exc).strip().splitlines()[0][:200]}); start every rank with the same "
                       f"MASTER_ADDR/MASTER_PORT (torchrun does).") from None
    return World(rank, size, local_rank, backend)
