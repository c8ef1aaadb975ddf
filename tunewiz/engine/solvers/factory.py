"""Caffe's ``SolverRegistry``: a solver's ``type`` (or the old ``solver_type`` enum) -> its update rule."""
from __future__ import annotations

from typing import Sequence

from tunewiz.engine.solvers.adadelta import AdaDelta
from tunewiz.engine.solvers.adagrad import AdaGrad
from tunewiz.engine.solvers.adam import Adam
from tunewiz.engine.solvers.nesterov import Nesterov
from tunewiz.engine.solvers.rmsprop import RMSProp
from tunewiz.engine.solvers.sgd import SGD, SolverError

#: the old ``solver_type`` enum (SolverParameter.SolverType) -> ``type`` string
SOLVER_TYPE_NAMES = {0: "SGD", 1: "Nesterov", 2: "AdaGrad", 3: "RMSProp", 4: "AdaDelta", 5: "Adam"}

SOLVERS = {cls.type_name: cls for cls in (SGD, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam)}


def solver_type(sp) -> str:
    """The solver's ``type`` (``solver_type`` enum honoured when ``type`` is not set)."""
    if sp.HasField("solver_type") and not sp.HasField("type"):
        return SOLVER_TYPE_NAMES[int(sp.solver_type)]
    return sp.type or "SGD"


def create_solver(sp, params: Sequence) -> SGD:
    """Caffe's ``SolverRegistry::CreateSolver``: the update rule for ``sp`` over the learnable ``params``."""
    name = solver_type(sp)
    if name not in SOLVERS:
        raise SolverError(
            f"Unknown solver type: {name} in the solver (known types: {', '.join(sorted(SOLVERS))}).")
    return SOLVERS[name](sp, params)
