"""pycaffe's solvers (``SGDSolver`` ... ``AdamSolver``, ``get_solver``) on the engine's Caffe ``Solver``.

One training engine: every call runs :class:`tunewiz.engine.train.solver.Solver`, the code that
``tunewiz train`` and the wizard train with; this module only gives it pycaffe's shape:

* ``net`` and ``test_nets`` are :class:`~tunewiz.pycaffe.net.Net` objects over the solver's own engine
  nets (``Net._wrap``), so ``solver.net.params['conv1'][0].data`` IS the trained weights, writing it
  changes training, and the test nets share the train net's weights as Caffe's ``ShareTrainedLayersWith``
  makes them.  After ``step``/``solve``/``restore`` their blobs hold the last forward the solver ran
  (``solver.net.blobs['loss']``, ``solver.test_nets[0].blobs['accuracy']``), as Caffe's blobs do.
  Unlike pycaffe, ``solver.net`` lists no Split layers: the engine's training nets are built without them.
* The class decides the update rule, as in pycaffe (``_caffe.cpp`` binds ``SGDSolver(file)`` to the C++
  ``SGDSolver`` constructor, which never reads ``type``): ``SGDSolver`` on a file that says
  ``type: "Adam"`` trains with SGD.  ``get_solver(file)`` picks the class from ``type`` (or the old
  ``solver_type``), as Caffe's ``SolverRegistry``.  ``param`` is the SolverParameter as read.
* Caffe's behaviour, not ``tunewiz train``'s: relative paths in the solver file start at the current
  folder, snapshots replace the files of their prefix, no run-folder lock; Caffe's log lines go to stderr.
"""
from __future__ import annotations

import copy
import os

from tunewiz.pycaffe import mode
from tunewiz.pycaffe.errors import PycaffeError
from tunewiz.pycaffe.net import Net, _as_runtime_error


def _read(solver_file):
    """The SolverParameter of a solver prototxt (parsed and upgraded), or one given as a message."""
    from tunewiz.caffe.netio import read_solver

    if isinstance(solver_file, (str, os.PathLike)):
        return read_solver(solver_file)
    return copy.deepcopy(solver_file)


def _recording(engine_net, pynet, last: dict, key: int):
    """The engine net's ``forward``, reading its Input tops from pycaffe's blobs (Caffe's InputLayer keeps
    what was written into it: ``solver.net.blobs['data'].data[...] = x`` then ``solver.step(1)`` trains on
    x) and keeping the blobs of its last call in ``last[key]``: the solver's passes go through ``forward``,
    and pycaffe shows their blobs afterwards (a reference, no copy)."""
    inner = engine_net.forward
    input_tops = [t for layer, w in zip(engine_net.layers, engine_net.wirings)
                  if layer.param.type == "Input" for t in w.tops]

    def forward(inputs=None, *args, **kwargs):
        given = dict(inputs or {})
        for name in input_tops:
            if name not in given:
                given[name] = pynet.blobs[name].tensor(engine_net.device)
        blobs = inner(given, *args, **kwargs)
        last[key] = blobs
        return blobs
    return forward


class _Solver:
    """A Caffe solver with pycaffe's API; subclasses name the update rule (see the module docstring)."""

    type_name = "SGD"

    def __init__(self, solver_file):
        from tunewiz.engine.train.solver import Solver

        with _as_runtime_error():
            self._param = _read(solver_file)
            engine_param = copy.deepcopy(self._param)
            engine_param.ClearField("solver_type")
            engine_param.type = self.type_name
            self._engine = Solver(engine_param, root=".", device=mode.device(), numerics="caffe")
        self.net = Net._wrap(self._engine.net)
        self.test_nets = [Net._wrap(net) for net in self._engine.test_nets]
        self._last: dict[int, dict] = {}
        for key, (net, pynet) in enumerate(zip([self._engine.net, *self._engine.test_nets], self._nets())):
            net.forward = _recording(net, pynet, self._last, key)

    @property
    def param(self):
        """The SolverParameter as read from the file (``type`` as the file says it)."""
        return self._param

    @property
    def iter(self) -> int:
        """The number of updates made (Caffe's ``iter_``)."""
        return self._engine.iter

    @property
    def type(self) -> str:
        """The update rule this solver applies (Caffe's ``Solver::type()``)."""
        return self.type_name

    # -- training -------------------------------------------------------------------------------
    def step(self, iters: int) -> None:
        """``Solver::Step``: ``iters`` iterations, with the tests, display and snapshots the solver asks for."""
        with self._running():
            self._engine.step(int(iters))

    def solve(self, snapshot=None) -> None:
        """``Solver::Solve``: restore ``snapshot`` (a .solverstate) if given, train to max_iter, test."""
        with self._running():
            self._engine.solve(None if snapshot is None else str(snapshot))

    def snapshot(self) -> None:
        """``Solver::Snapshot``: ``<prefix>_iter_N.caffemodel`` and ``.solverstate`` (replacing older files
        of the same name, as Caffe), plus tunewiz's ``.tunewiz.json`` sidecar for an exact restore."""
        with self._running():
            self._engine.snapshot()

    def restore(self, path) -> None:
        """``Solver::Restore``: iteration, lr step, history and weights from a .solverstate."""
        with self._running():
            self._engine.restore(str(path))

    def apply_update(self) -> None:
        """``SGDSolver::ApplyUpdate``: the update rule on the param diffs as they are (from ``net.backward()``),
        at this iteration's rate; ``iter`` does not change, as in Caffe."""
        engine = self._engine
        with self._running():
            rate = engine._rate()  # the Solver's own rate (logs "lr = " and moves multistep's step)
            line = engine.rule.apply_update(rate, engine.iter)
        if line:
            engine.log.info("clip", line)

    def close(self) -> None:
        """Release the nets' data readers (not in pycaffe, where the solver's destructor does it)."""
        self._engine.close()

    def __enter__(self) -> "_Solver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- keeping the numpy side current ------------------------------------------------------------
    def _nets(self) -> list[Net]:
        return [self.net, *self.test_nets]

    def _running(self):
        return _Running(self)

    def _sync(self) -> None:
        """Param mirrors from the device (GPU nets), and the blobs of each net's last forward."""
        for key, net in enumerate(self._nets()):
            for blob in net._param_blobs():
                blob.pull()
            blobs = self._last.pop(key, None)
            if blobs is not None:
                for name, value in blobs.items():
                    if name in net.blobs:
                        net.blobs[name].store(value.detach().float())
                net._pass = None  # a net.backward() needs its own net.forward() first, as its graph is gone

    def __repr__(self) -> str:
        return f"<{type(self).__name__} iter {self.iter} net {self._engine.net.name!r}>"


class _Running:
    """Around a solver call: values written to ``solver.net``'s params go to the device first, the engine's
    errors become pycaffe's RuntimeError, and the numpy side is brought up to date after (even on error)."""

    def __init__(self, solver: _Solver):
        self.solver = solver
        self.errors = _as_runtime_error()

    def __enter__(self):
        for blob in self.solver.net._param_blobs():
            blob.push()
        self.errors.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            return self.errors.__exit__(*exc)
        finally:
            self.solver._sync()


class SGDSolver(_Solver):
    """Stochastic gradient descent with momentum (Caffe's ``SGDSolver``)."""

    type_name = "SGD"


class NesterovSolver(_Solver):
    """Nesterov's accelerated gradient (Caffe's ``NesterovSolver``)."""

    type_name = "Nesterov"


class AdaGradSolver(_Solver):
    """AdaGrad (Caffe's ``AdaGradSolver``)."""

    type_name = "AdaGrad"


class RMSPropSolver(_Solver):
    """RMSProp (Caffe's ``RMSPropSolver``)."""

    type_name = "RMSProp"


class AdaDeltaSolver(_Solver):
    """AdaDelta (Caffe's ``AdaDeltaSolver``)."""

    type_name = "AdaDelta"


class AdamSolver(_Solver):
    """Adam (Caffe's ``AdamSolver``)."""

    type_name = "Adam"


#: Caffe's solver type name -> the pycaffe class
SOLVER_CLASSES = {cls.type_name: cls for cls in (SGDSolver, NesterovSolver, AdaGradSolver, RMSPropSolver,
                                                 AdaDeltaSolver, AdamSolver)}


def get_solver(solver_file) -> _Solver:
    """pycaffe's ``caffe.get_solver``: the solver class the file's ``type`` (or ``solver_type``) names."""
    from tunewiz.engine.solvers.factory import solver_type

    with _as_runtime_error():
        param = _read(solver_file)
    name = solver_type(param)
    if name not in SOLVER_CLASSES:
        raise PycaffeError(f"Unknown solver type: {name} in {solver_file} (known types: "
                           f"{', '.join(sorted(SOLVER_CLASSES))}).")
    return SOLVER_CLASSES[name](param)
