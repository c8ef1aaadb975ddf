"""The solver's running state: iteration, lr step, smoothed-loss window, last snapshot.

``update_smoothed`` is Caffe's ``Solver::UpdateSmoothedLoss`` in float32::

    if len(losses) < average_loss:
        losses.append(loss); smoothed = (smoothed * (len - 1) + loss) / len
    else:
        idx = (iter - start_iter) % average_loss
        smoothed += (loss - losses[idx]) / average_loss; losses[idx] = loss

where ``start_iter`` is the iteration at which the current ``Step`` began (the window is emptied then,
as Caffe's ``Step`` empties ``losses_``).

In a snapshot, ``iter`` and ``current_step`` go into the solverstate (Caffe's fields); the window,
which Caffe does not keep, goes into our sidecar: :meth:`TrainState.window` gives it,
:meth:`TrainState.restore_window` takes it back, and the next ``Step`` then continues it instead of
starting afresh.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tunewiz.engine.numbers import F32


@dataclass
class TrainState:
    iter: int = 0
    current_step: int = 0
    start_iter: int = 0
    average_loss: int = 1
    losses: list = field(default_factory=list)
    smoothed: F32 = F32(0)
    last_snapshot: str | None = None
    restored_window: bool = False

    def begin_step(self, average_loss: int) -> None:
        """``Step`` start: an empty window (kept when our own snapshot restored one)."""
        self.average_loss = max(1, int(average_loss))
        if self.restored_window:
            self.restored_window = False
            return
        self.start_iter = self.iter
        self.losses = []
        self.smoothed = F32(0)

    def update_smoothed(self, loss) -> None:
        loss = F32(loss)
        if len(self.losses) < self.average_loss:
            self.losses.append(loss)
            size = len(self.losses)
            self.smoothed = F32(F32(F32(self.smoothed * F32(size - 1)) + loss) / F32(size))
        else:
            idx = (self.iter - self.start_iter) % self.average_loss
            self.smoothed = F32(self.smoothed + F32(F32(loss - self.losses[idx]) / F32(self.average_loss)))
            self.losses[idx] = loss

    # -- in and out of a snapshot ------------------------------------------------------------------
    def restore_counters(self, it: int, current_step: int) -> None:
        """The solverstate's ``iter`` and ``current_step`` (``SGDSolver::RestoreSolverStateFromBinaryProto``)."""
        self.iter, self.current_step = int(it), int(current_step)

    def window(self) -> dict:
        """The smoothed-loss window, for the sidecar."""
        return {"start_iter": self.start_iter, "losses": [float(x) for x in self.losses],
                "smoothed": float(self.smoothed)}

    def restore_window(self, data: dict) -> None:
        """A window from the sidecar: the next ``Step`` continues it."""
        self.start_iter = int(data["start_iter"])
        self.losses = [F32(x) for x in data["losses"]]
        self.smoothed = F32(data["smoothed"])
        self.restored_window = True
