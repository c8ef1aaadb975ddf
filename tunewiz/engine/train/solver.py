"""Caffe's ``Solver`` (``solver.cpp``): ``step(n)``, ``test()``, ``snapshot()``, ``restore(path)``, ``solve()``.

The same object trains for ``tunewiz train`` (through :mod:`tunewiz.engine.train.trainer`, which forwards
the events to events.jsonl and the wizard) and for a script, as pycaffe's solver does::

    solver = Solver("solver.prototxt", weights=["init.caffemodel"])
    solver.step(10)            # ten iterations (tests, display and snapshots as the solver says)
    solver.net.forward(); solver.test(); solver.snapshot()

One implementation: :meth:`Solver.step_events`, :meth:`Solver.test_events` and :meth:`Solver.solve_events`
are generators of typed events (:mod:`tunewiz.runs.events`); :meth:`step`, :meth:`test` and :meth:`solve`
run them to the end.

One iteration, in Caffe's order (``Solver::Step``): test (when iter % test_interval == 0, and at 0 only
with test_initialization) -> forward/backward iter_size times (gradients summed) -> loss = mean of the
sub-batch losses -> smoothed loss (:mod:`tunewiz.engine.train.state`; the window restarts with each
``Step``) -> display ("Iteration N (... iter/s, ...), loss = smoothed" and "Train net output #k" of the
LAST sub-batch) -> "Iteration N, lr = rate" -> the update rule of :mod:`tunewiz.engine.solvers` ->
iter += 1 -> snapshot if iter % snapshot == 0 (or asked for) -> stop if asked.
``Solve``: Step(max_iter - iter), then snapshot_after_train, then (display) one forward-only pass whose
loss enters the smoothed loss ("Iteration max_iter, loss = S"), then the final test.

With a ``world`` of several ranks (:mod:`tunewiz.engine.dist`) the gradients are summed over the ranks
and scaled by 1/size between the passes and the update, the loss is their mean, rank 0 alone tests and
writes snapshots, and requests on any rank are acted on by all at the same iteration.

Stop/snapshot requests come from ``threading.Event`` s (the CLI sets them from SIGINT/SIGHUP; Caffe's
``GetRequestedAction``): ``stop`` ends the run after the current iteration with a snapshot (as Caffe with
snapshot_after_train); ``snapshot_now`` writes one and is cleared.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Generator, Iterator

import torch

from tunewiz.engine.numbers import F32, fmt
from tunewiz.engine.solvers.factory import create_solver
from tunewiz.engine.solvers.lr_policy import check_policy, learning_rate
from tunewiz.engine.train import nets as tn
from tunewiz.engine.train import resume
from tunewiz.engine.train import snapshot as snap
from tunewiz.engine.train.caffelog import CaffeLog
from tunewiz.engine.train.iteration import forward_backward, log_train_outputs
from tunewiz.engine.train.state import TrainState
from tunewiz.engine.train.testing import outputs_dict, run_test
from tunewiz.runs import events as ev


class Solver:
    """Caffe's ``Solver::Init`` from a SolverParameter (or a solver prototxt's path); see the module docstring.

    ``root`` is the folder Caffe would run in (relative paths start there); ``weights`` are caffemodels to
    fine-tune from (``caffe train --weights``); ``numerics`` on the CPU: "caffe" = Caffe's float32
    summation order, "torch" = torch's kernels.  Public state: ``sp``, ``net``, ``test_nets``, ``rule``
    (the update rule), ``state`` (:class:`TrainState`), ``iter``, ``device``, ``log``, ``root``.
    """

    def __init__(self, solver, *, root: str | os.PathLike = ".", weights=(), device: str = "cpu",
                 log: CaffeLog | None = None, numerics: str = "caffe", stop: threading.Event | None = None,
                 snapshot_now: threading.Event | None = None, world=None) -> None:
        from tunewiz.engine.devices import prepare_device
        from tunewiz.engine.dist import ALONE

        self.sp = _solver_param(solver)
        self.root = Path(root)
        self.log = log if log is not None else CaffeLog(None)
        self.stop = stop or threading.Event()
        self.snapshot_now = snapshot_now or threading.Event()
        self.state = TrainState()
        self.stopped_early = False
        self.device = prepare_device(device)
        self.world = world or ALONE
        self.net, self.test_nets = None, []
        self._init(list(weights), numerics)

    def _init(self, weights: list[str], numerics: str) -> None:
        sp, log = self.sp, self.log
        log.info("init_solver", "Initializing solver from parameters: \n" + tn.solver_text(sp))
        check_policy(sp)
        self.hdf5_snapshots = snap.hdf5_snapshots(sp, log)
        if self.world.root:  # Caffe: CheckSnapshotWritePermissions on the root solver (one probe file)
            snap.check_prefix(sp, self.root)
        if sp.random_seed >= 0:
            torch.manual_seed(sp.random_seed)
        world = self.world
        self.net, self.test_nets = tn.build_solver_nets(sp, self.root, self.device, weights, numerics, log,
                                                        world.shard)
        try:
            self.rule = create_solver(sp, self.net.learnable_params())
            world.broadcast_params(self.rule.params)  # fillers drawn on rank 0 (Caffe: NCCL::Broadcast)
            if world.rank and sp.random_seed >= 0:  # Caffe: random_seed + solver_rank (dropout masks)
                torch.manual_seed(sp.random_seed + world.rank)
        except BaseException:
            self.close()
            raise
        log.info("scaffolding", "Solver scaffolding done.")

    @property
    def iter(self) -> int:
        """Caffe's ``iter_``: the number of updates made."""
        return self.state.iter

    def close(self) -> None:
        """Release the nets' data feeds."""
        for net in [self.net, *self.test_nets]:
            if net is not None:
                net.close()

    def __enter__(self) -> "Solver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the public calls -------------------------------------------------------------------------
    def step(self, iters: int) -> None:
        """``Solver::Step``: ``iters`` iterations (tests, display and snapshots as the solver says)."""
        for _ in self.step_events(iters):
            pass

    def solve(self, resume_file: str | None = None) -> None:
        """``Solver::Solve``: restore ``resume_file`` if given, then train to max_iter and test."""
        if resume_file:
            self.restore(resume_file)
        for _ in self.solve_events():
            pass

    def test(self) -> list[dict]:
        """``Solver::TestAll``: every test net's mean outputs (``{name: mean}``, one dict per test net)."""
        return [event.outputs for event in self.test_events() if isinstance(event, ev.TestDone)]

    def snapshot(self) -> list[str]:
        """``Solver::Snapshot``: the caffemodel and solverstate (+ our sidecar) at this iteration; their paths."""
        return resume.save(self).paths()

    def restore(self, path: str) -> None:
        """``Solver::Restore``: iteration, lr step, history and weights from a .solverstate (+ our sidecar)."""
        resume.restore(self, path)

    # -- the generators behind them ---------------------------------------------------------------
    def solve_events(self) -> Iterator[ev.Event]:
        sp, log, st = self.sp, self.log, self.state
        log.info("solving", f"Solving {self.net.name}")
        log.info("lr_policy", f"Learning Rate Policy: {sp.lr_policy}")
        yield from self.step_events(sp.max_iter - st.iter)
        if sp.snapshot_after_train and (not sp.snapshot or st.iter % sp.snapshot != 0):
            yield self._snapshot_event()
        if self.stopped_early:
            log.info("stopped_early", "Optimization stopped early.")
            return
        if sp.display and st.iter % sp.display == 0:
            with torch.no_grad():
                loss = self.world.mean_loss(F32(self.net.loss(self.net.forward()).item()))
            st.update_smoothed(loss)
            log.info("final_loss", f"Iteration {st.iter}, loss = {fmt(st.smoothed)}")
        if sp.test_interval and st.iter % sp.test_interval == 0:
            yield from self.test_events()
        log.info("done", "Optimization Done.")

    def step_events(self, iters: int) -> Iterator[ev.Event]:
        sp, st, net = self.sp, self.state, self.net
        stop_iter = st.iter + iters
        images = tn.batch_size(net) * sp.iter_size * self.world.size  # the images of every rank
        st.begin_step(sp.average_loss)
        last_display, last_iter = time.perf_counter(), st.iter
        while st.iter < stop_iter:
            for info in self.rule.params:
                info.param.grad = None
            if sp.test_interval and st.iter % sp.test_interval == 0 and (st.iter > 0 or sp.test_initialization):
                yield from self.test_events()
                if self.world.agree(self.stopped_early):  # stopped during rank 0's test: every rank stops
                    self.stopped_early = True
                    break
            t0 = time.perf_counter()
            loss, blobs = forward_backward(self)
            self.world.reduce_gradients(self.rule.params)
            st.update_smoothed(loss)
            if sp.display and st.iter % sp.display == 0:
                lapse = time.perf_counter() - last_display
                self._display(st.iter - last_iter, lapse, blobs)
                last_display, last_iter = time.perf_counter(), st.iter
            rate = self._rate()
            clip_line = self.rule.apply_update(rate, st.iter)
            if clip_line:
                self.log.info("clip", clip_line)
            st.iter += 1
            dt = max(time.perf_counter() - t0, 1e-9)
            yield ev.IterationDone(st.iter - 1, float(loss), float(st.smoothed), float(rate), images / dt,
                                   outputs_dict(net, blobs))
            request = self._synced_action()
            if (sp.snapshot and st.iter % sp.snapshot == 0) or request == "snapshot":
                yield self._snapshot_event()
            if request == "stop":
                self.stopped_early = True
                break

    def test_events(self) -> Iterator[ev.Event]:
        """``TestAll``: a TestDone per test net (snapshot events when one is asked for meanwhile)."""
        for i in range(len(self.test_nets)):
            result = yield from run_test(self, i)
            if result is None:
                return
            yield result

    def serve_requests(self) -> Generator[ev.Event, None, bool]:
        """Between two test batches: write the snapshots asked for; returns True when a stop is asked."""
        while True:
            action = self._requested_action()
            if action == "snapshot":
                yield self._snapshot_event()
            elif action == "stop":
                self.stopped_early = True
                return True
            else:
                return False

    @property
    def stop_reason(self) -> str | None:
        return "stop requested" if self.stopped_early else None

    # -- pieces of an iteration -------------------------------------------------------------------
    def _requested_action(self) -> str | None:
        """Caffe's ``GetRequestedAction``: 'stop', 'snapshot' or None."""
        if self.stop.is_set():
            return "stop"
        if self.snapshot_now.is_set():
            self.snapshot_now.clear()
            return "snapshot"
        return None

    def _synced_action(self) -> str | None:
        """``_requested_action`` of every rank together: a stop or snapshot asked of any rank."""
        if self.world.size == 1:
            return self._requested_action()
        stop, snapshot = self.world.requests(self.stop.is_set(), self.snapshot_now.is_set())
        self.snapshot_now.clear()
        return "stop" if stop else "snapshot" if snapshot else None

    def _snapshot_event(self) -> ev.SnapshotSaved:
        """Rank 0 writes the snapshot (the others' weights and history are the same)."""
        return ev.SnapshotSaved(self.state.iter, self.snapshot() if self.world.root else [])

    def _rate(self) -> float:
        st = self.state
        rate, st.current_step, line = learning_rate(self.sp, st.iter, st.current_step)
        if line:
            self.log.info("multistep", line)
        if self.sp.display and st.iter % self.sp.display == 0:
            self.log.info("lr", f"Iteration {st.iter}, lr = {fmt(rate)}")
        return rate

    def _display(self, iters: int, lapse: float, blobs) -> None:
        per_s = iters / (lapse if lapse else 1)
        self.log.info("iteration", f"Iteration {self.state.iter} ({fmt(per_s)} iter/s, {fmt(lapse)}s/"
                                   f"{self.sp.display} iters), loss = {fmt(self.state.smoothed)}")
        log_train_outputs(self.log, self.net, blobs)


def _solver_param(solver):
    """A SolverParameter as given, or read (and upgraded) from a prototxt path."""
    if isinstance(solver, (str, os.PathLike)):
        from tunewiz.caffe.netio import read_solver

        return read_solver(solver)
    return solver
