"""The trainer behind ``tunewiz train`` and the wizard: ``caffe train`` as a loop over a :class:`Solver`.

``caffe train`` (``tools/caffe.cpp``): build the solver (``Solver::Init``, fine-tuning ``--weights``),
"Resuming from <snapshot>" + ``Restore``, "Starting Optimization", ``Solve``.  Here the same, as a
generator of typed events (:mod:`tunewiz.runs.events`): ``started``, then the solver's own
(``iteration``, ``test``, ``snapshot``), then ``stopped`` (asked to stop, or a fault) and ``finished``.
Every event is also appended to ``<run dir>/events.jsonl``; the Caffe log goes to ``<run dir>/train.log``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from tunewiz.engine.train.caffelog import CaffeLog
from tunewiz.engine.train.solver import Solver
from tunewiz.errors import TunewizError
from tunewiz.runs import events as ev, layout


@dataclass
class TrainConfig:
    """What ``tunewiz train`` (or the wizard) asks for."""

    solver: object  # caffe_pb2.SolverParameter, already upgraded
    root: str | Path = "."  # the folder Caffe would run in: relative paths start here
    weights: list[str] = field(default_factory=list)
    snapshot: str | None = None
    device: str = "cpu"
    run_dir: str | Path | None = None  # events.jsonl + train.log go here
    stop: threading.Event | None = None
    snapshot_now: threading.Event | None = None
    log_stream: object = "stderr"  # CaffeLog's default: the current sys.stderr
    log: CaffeLog | None = None
    numerics: str = "caffe"  # on the CPU: "caffe" = Caffe's float32 summation order, "torch" = torch's
    world: object = None  # tunewiz.engine.dist.World of a multi-rank run (None: alone)


class Trainer:
    """Build with a :class:`TrainConfig`; iterate :meth:`run` for events.  ``solver`` is the
    :class:`Solver` once built."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.solver: Solver | None = None
        self._writer = None
        self._own_log = cfg.log is None
        self.log = cfg.log

    def run(self) -> Iterator[ev.Event]:
        """Build the solver, resume, Solve; a fault ends the events with ``stopped`` (fault) and ``finished``."""
        self._open_outputs()
        try:
            try:
                for event in self._train():
                    self._emit(event)
                    yield event
            except Exception as exc:  # a fault stops the run: followers see why, then the error goes on
                reason = str(exc) if isinstance(exc, TunewizError) else f"{type(exc).__name__}: {exc}"
                it = self.solver.iter if self.solver is not None else 0
                for event in (ev.Stopped(it, reason, fault=True), ev.Finished(it)):
                    self._emit(event)
                    yield event
                raise
        finally:
            self._close_outputs()

    def _train(self) -> Iterator[ev.Event]:
        cfg, log = self.cfg, self.log
        self.solver = solver = Solver(cfg.solver, root=cfg.root, weights=cfg.weights, device=cfg.device, log=log,
                                      numerics=cfg.numerics, stop=cfg.stop, snapshot_now=cfg.snapshot_now,
                                      world=cfg.world)
        if cfg.snapshot:
            log.info("resuming", f"Resuming from {cfg.snapshot}")
            solver.restore(cfg.snapshot)
        log.info("start_opt", "Starting Optimization")
        yield ev.Started(solver.iter, solver.sp.max_iter, str(solver.device), solver.sp.type, solver.net.name)
        yield from solver.solve_events()
        if solver.stopped_early:
            yield ev.Stopped(solver.iter, solver.stop_reason)
        yield ev.Finished(solver.iter)

    def _emit(self, event) -> None:
        if self._writer is not None:
            self._writer.write(event)

    def _open_outputs(self) -> None:
        run_dir = self.cfg.run_dir
        if run_dir is not None:
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            self._writer = ev.EventWriter(Path(run_dir) / layout.EVENTS)
        if self.log is None:
            self.log = CaffeLog(Path(run_dir) / layout.TRAIN_LOG if run_dir is not None else None, self.cfg.log_stream)

    def _close_outputs(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._own_log:
            self.log.close()
        if self.solver is not None:
            self.solver.close()


def train(cfg: TrainConfig) -> Iterator[ev.Event]:
    """Shorthand: ``for event in train(cfg): ...``."""
    return Trainer(cfg).run()
