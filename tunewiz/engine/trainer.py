"""The trainer: Caffe's ``Solver::Solve``/``Step``/``Test`` as a generator of typed events.

One iteration, in Caffe's order: test (when iter % test_interval == 0, and at 0 only with
test_initialization) -> forward/backward iter_size times (gradients summed) -> loss = mean of the
sub-batch losses -> smoothed loss (mean of the last average_loss losses, updated incrementally as
``smoothed += (loss - oldest) / average_loss``; the window restarts with each ``Solve``) -> display
("Iteration N (... iter/s, ...), loss = smoothed" and "Train net output #k" of the LAST sub-batch)
-> "Iteration N, lr = rate" -> solver update (clip, normalize, regularize, update, apply) ->
iter += 1 -> snapshot if iter % snapshot == 0 (or asked for) -> stop if asked.
After the loop: snapshot_after_train, then (display) one forward-only pass whose loss enters the
smoothed loss ("Iteration max_iter, loss = S"), then the final test.

Stop/snapshot requests come from ``threading.Event`` s (the CLI sets them from SIGINT/SIGHUP):
``stop`` ends the run after the current iteration with a snapshot (as Caffe with
snapshot_after_train); ``snapshot_now`` writes one and is cleared.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from tunewiz.runs import events as ev, layout
from tunewiz.engine import snapshot as snap
from tunewiz.engine import trainnets as tn
from tunewiz.engine.caffelog import CaffeLog, fmt
from tunewiz.engine.lr_policy import check_policy, learning_rate
from tunewiz.engine.solvers import create_solver
from tunewiz.engine.testing import log_outputs, outputs_dict
from tunewiz.engine.trainstate import TrainState
from tunewiz.errors import TunewizError

F32 = np.float32


class TrainingDiverged(TunewizError):
    """The loss became NaN or infinite."""


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
    numerics: str = "caffe"  # on the CPU: "caffe" = Caffe's float32 summation order (exact_cpu), "torch" = torch's


class Trainer:
    """Build with a :class:`TrainConfig`; iterate :meth:`run` for events."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.sp = cfg.solver
        self.root = Path(cfg.root)
        self.stop = cfg.stop or threading.Event()
        self.snapshot_now = cfg.snapshot_now or threading.Event()
        self.early_exit = False
        self._writer = None
        self.log = cfg.log
        self.st = TrainState()

    # -- the public generator ---------------------------------------------------------------------
    def run(self) -> Iterator[ev.Event]:
        """Set up, then Solve; every event is also appended to ``<run dir>/events.jsonl``."""
        self._open_outputs()
        try:
            try:
                for event in self._solve():
                    self._emit(event)
                    yield event
            except Exception as exc:  # a fault stops the run: followers see why, then the error goes on
                reason = str(exc) if isinstance(exc, TunewizError) else f"{type(exc).__name__}: {exc}"
                for event in (ev.Stopped(self.st.iter, reason, fault=True), ev.Finished(self.st.iter)):
                    self._emit(event)
                    yield event
                raise
        finally:
            self._close_outputs()

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
            self._own_log = True

    def _close_outputs(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if getattr(self, "_own_log", False):
            self.log.close()
        for net in [getattr(self, "net", None), *getattr(self, "test_nets", [])]:
            if net is not None:
                net.close()

    # -- set-up -------------------------------------------------------------------------------------
    def setup(self) -> None:
        """``Solver::Init`` + weights or ``Restore`` (as ``caffe train`` does)."""
        from tunewiz.engine.devices import prepare_device

        sp, log = self.sp, self.log
        self.device = prepare_device(self.cfg.device)
        log.info("init_solver", "Initializing solver from parameters: \n" + tn.solver_text(sp))
        check_policy(sp)
        if sp.snapshot_format == 0:  # HDF5
            log.warning("solver.cpp:45", "snapshot_format HDF5 is not supported by tunewiz: snapshots are written "
                                         "as BINARYPROTO (.caffemodel/.solverstate), which Caffe reads too.")
        if sp.snapshot and not sp.snapshot_prefix:
            raise snap.SnapshotError("In solver params, snapshot is specified but snapshot_prefix is not.")
        if sp.snapshot or sp.snapshot_after_train:
            if sp.snapshot_prefix:
                snap.check_writable(self.root, sp.snapshot_prefix)
        seed = sp.random_seed if sp.random_seed >= 0 else None
        if seed is not None:
            torch.manual_seed(seed)
        self.net = tn.build_net(tn.train_net_param(sp, self.root, log), self.device, seed, self.root, self.cfg.weights, sp)
        if self.cfg.weights:
            tn.load_weights(self.net, self.cfg.weights, self.root, log)
        self.test_nets = []
        for i, param in enumerate(tn.test_net_params(sp, self.root, log)):
            net = tn.build_net(param, self.device, None, self.root, self.cfg.weights)
            if self.cfg.weights:
                tn.load_weights(net, self.cfg.weights, self.root, log)
            tn.share_trained_layers(net, self.net)
            self.test_nets.append(net)
        tn.prepare_nets([self.net, *self.test_nets], self.cfg.numerics, self.device, log)
        self.solver = create_solver(sp, self.net.learnable_params())
        log.info("scaffolding", "Solver scaffolding done.")
        if self.cfg.snapshot:
            self._restore(self.cfg.snapshot)

    def _restore(self, path: str) -> None:
        from tunewiz.engine.resume import restore_into

        self.log.info("resuming", f"Resuming from {path}")
        restore_into(self, path)

    # -- Solve ----------------------------------------------------------------------------------------
    def _solve(self) -> Iterator[ev.Event]:
        self.setup()
        sp, log, st = self.sp, self.log, self.st
        log.info("start_opt", "Starting Optimization")
        yield ev.Started(st.iter, sp.max_iter, str(self.device), sp.type, self.net.name)
        log.info("solving", f"Solving {self.net.name}")
        log.info("lr_policy", f"Learning Rate Policy: {sp.lr_policy}")
        st.begin_solve(sp.average_loss)
        yield from self._step(sp.max_iter - st.iter)
        if sp.snapshot_after_train and (not sp.snapshot or st.iter % sp.snapshot != 0):
            yield from self._snapshot()
        if self.early_exit:
            log.info("stopped_early", "Optimization stopped early.")
            yield ev.Stopped(st.iter, self.stop_reason)
            yield ev.Finished(st.iter)
            return
        if sp.display and st.iter % sp.display == 0:
            with torch.no_grad():
                loss = F32(self.net.loss(self.net.forward()).item())
            st.update_smoothed(loss)
            log.info("final_loss", f"Iteration {st.iter}, loss = {fmt(st.smoothed)}")
        if sp.test_interval and st.iter % sp.test_interval == 0:
            yield from self._test_all()
        log.info("done", "Optimization Done.")
        yield ev.Finished(st.iter)

    def _request(self) -> str | None:
        """Caffe's GetRequestedAction: 'stop', 'snapshot' or None."""
        if self.stop.is_set():
            self.stop_reason = getattr(self, "stop_reason", None) or "stop requested"
            return "stop"
        if self.snapshot_now.is_set():
            self.snapshot_now.clear()
            return "snapshot"
        return None

    def _step(self, iters: int) -> Iterator[ev.Event]:
        sp, st, net = self.sp, self.st, self.net
        stop_iter = st.iter + iters
        images = tn.batch_size(net) * sp.iter_size
        last_display, last_iter = time.perf_counter(), st.iter
        while st.iter < stop_iter:
            for info in self.solver.params:
                info.param.grad = None
            if sp.test_interval and st.iter % sp.test_interval == 0 and (st.iter > 0 or sp.test_initialization):
                yield from self._test_all()
                if self.early_exit:
                    break
            t0 = time.perf_counter()
            loss, blobs = self._forward_backward()
            st.update_smoothed(loss)
            if sp.display and st.iter % sp.display == 0:
                lapse = time.perf_counter() - last_display
                self._display(st.iter - last_iter, lapse, blobs)
                last_display, last_iter = time.perf_counter(), st.iter
            rate = self._rate()
            self.solver.iteration = st.iter
            clip_line = self.solver.apply_update(rate)
            if clip_line:
                self.log.info("clip", clip_line)
            st.iter += 1
            dt = max(time.perf_counter() - t0, 1e-9)
            yield ev.IterationDone(st.iter - 1, float(loss), float(st.smoothed), float(rate), images / dt,
                                   self._outputs(blobs))
            request = self._request()
            if (sp.snapshot and st.iter % sp.snapshot == 0) or request == "snapshot":
                yield from self._snapshot()
            if request == "stop":
                self.early_exit = True
                break

    def _forward_backward(self):
        from tunewiz.engine.devices import out_of_memory

        sp, net = self.sp, self.net
        total = F32(0)
        try:
            for _ in range(sp.iter_size):
                blobs = net.forward()
                loss = net.loss(blobs)
                if loss.requires_grad:  # a net with nothing to learn (Caffe runs it too)
                    loss.backward()
                total = F32(total + F32(loss.item()))
        except Exception as exc:
            if out_of_memory(exc):
                raise out_of_memory(exc, sp=sp, batch=tn.batch_size(net), device=self.device) from None
            raise
        total = F32(total / F32(sp.iter_size))
        if not np.isfinite(total):
            self.log.error("iteration", f"Iteration {self.st.iter}, loss = {fmt(total)}")
            raise self._diverged(total)
        return total, blobs

    def _diverged(self, loss) -> TrainingDiverged:
        last = self.st.last_snapshot
        keep = f" The last good snapshot is {last}." if last else " No snapshot was written before it."
        return TrainingDiverged(
            f"the loss became {fmt(loss)} at iteration {self.st.iter}: training diverged and was stopped "
            f"before this update.{keep} Lower base_lr in the solver (e.g. to {fmt(self.sp.base_lr / 10)}) "
            f"or set clip_gradients, then start again.")

    def _rate(self) -> float:
        st = self.st
        rate, st.current_step, line = learning_rate(self.sp, st.iter, st.current_step)
        if line:
            self.log.info("multistep", line)
        if self.sp.display and st.iter % self.sp.display == 0:
            self.log.info("lr", f"Iteration {st.iter}, lr = {fmt(rate)}")
        return rate

    def _outputs(self, blobs) -> dict:
        """The train net's outputs of the last sub-batch (what "Train net output #k" shows)."""
        return outputs_dict(self.net, blobs)

    def _display(self, iters: int, lapse: float, blobs) -> None:
        per_s = iters / (lapse if lapse else 1)
        self.log.info("iteration", f"Iteration {self.st.iter} ({fmt(per_s)} iter/s, {fmt(lapse)}s/"
                                   f"{self.sp.display} iters), loss = {fmt(self.st.smoothed)}")
        log_outputs(self.log, "train_output", "Train", self.net,
                    [(n, blobs[n].detach().reshape(-1).cpu().numpy().astype(F32)) for n in self.net.output_names])

    # -- tests and snapshots ---------------------------------------------------------------------------
    def _test_all(self) -> Iterator[ev.Event]:
        from tunewiz.engine.testing import run_test

        for i, net in enumerate(self.test_nets):
            result = yield from run_test(self, i, net)
            if result is None:
                return
            yield result

    def _snapshot(self) -> Iterator[ev.Event]:
        from tunewiz.engine.resume import save_snapshot

        files = save_snapshot(self)
        yield ev.SnapshotSaved(self.st.iter, files.paths())


def train(cfg: TrainConfig) -> Iterator[ev.Event]:
    """Shorthand: ``for event in train(cfg): ...``."""
    return Trainer(cfg).run()
