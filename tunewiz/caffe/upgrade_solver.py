"""Solver upgrade: the old ``solver_type`` enum -> the ``type`` string (Caffe's UpgradeSolverType).

Caffe 1.0 (``upgrade_proto.cpp``)::

    CHECK(!has_solver_type() || !has_type())      -> fatal when both are set
    type = {SGD: "SGD", NESTEROV: "Nesterov", ADAGRAD: "AdaGrad",
            RMSPROP: "RMSProp", ADADELTA: "AdaDelta", ADAM: "Adam"}[solver_type]
    set_type(type); clear_solver_type()

``type`` (field 40) is the solver's last field, so written files show it at the
end.  Log lines are returned as :class:`tunewiz.caffe.upgrade_report.Note` s.
"""
from __future__ import annotations

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.upgrade_report import Note, UpgradeError, UpgradeReport

SOLVER_TYPE_NAMES: dict[str, str] = {
    "SGD": "SGD", "NESTEROV": "Nesterov", "ADAGRAD": "AdaGrad",
    "RMSPROP": "RMSProp", "ADADELTA": "AdaDelta", "ADAM": "Adam",
}

BOTH_REASON = ("Check failed: !solver_param->has_solver_type() || !solver_param->has_type() "
               "Failed to upgrade solver: old solver_type field (enum) and new type field (string) "
               "cannot be both specified in solver proto text.")


def solver_needs_upgrade(solver: caffe_pb2.SolverParameter) -> bool:
    """Caffe's SolverNeedsTypeUpgrade: ``solver_type`` is set."""
    return solver.HasField("solver_type")


def upgrade_solver_type(solver: caffe_pb2.SolverParameter, param_file: str = "") -> None:
    """Caffe's UpgradeSolverType, in place; both fields set -> UpgradeError (Caffe: fatal)."""
    if solver.HasField("solver_type") and solver.HasField("type"):
        raise UpgradeError(
            f"{param_file or 'solver'}: {BOTH_REASON} "
            f"Keep only 'type: \"{solver.type}\"' and delete the 'solver_type' line."
        )
    name = caffe_pb2.SolverParameter.SolverType.Name(solver.solver_type)
    solver.type = SOLVER_TYPE_NAMES[name]
    solver.ClearField("solver_type")


def upgrade_solver_as_needed(solver: caffe_pb2.SolverParameter, param_file: str = "") -> UpgradeReport:
    """Caffe's UpgradeSolverAsNeeded, in place; returns an UpgradeReport with Caffe's log lines."""
    report = UpgradeReport()
    if solver_needs_upgrade(solver):
        report.source_format = "V1"
        report.steps.append("solver_type")
        report.notes.append(Note("info", "Attempting to upgrade input file specified using deprecated "
                                         f"'solver_type' field (enum)': {param_file}"))
        upgrade_solver_type(solver, param_file)
        report.notes.append(Note("info", "Successfully upgraded file specified using deprecated "
                                         "'solver_type' field (enum) to 'type' field (string)."))
        report.notes.append(Note("warning", "Note that future Caffe releases will only support "
                                            "'type' field (string) for a solver's type."))
    return report
