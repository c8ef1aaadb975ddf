"""The readers every other module uses: a net or solver file, upgraded as Caffe does on read.

* :func:`read_net` = Caffe's ``ReadNetParamsFromTextFileOrDie``: parse the text,
  then ``UpgradeNetAsNeeded`` (:mod:`tunewiz.caffe.upgrade`).
* :func:`read_solver` = ``ReadSolverParamsFromTextFileOrDie``: parse, then
  ``UpgradeSolverAsNeeded``.
* :func:`read_net_binary` = ``ReadNetParamsFromBinaryFileOrDie`` (the whole
  message, read with :mod:`tunewiz.caffe.caffemodel`, which is the place for weights).

Caffe's upgrade log lines come back as :class:`~tunewiz.caffe.upgrade_report.Note` s: pass
a list as ``notes``, or use the ``load_*`` variants, which also return the
:class:`~tunewiz.caffe.upgrade_report.UpgradeReport` (``source_format`` tells whether the
file was written in V1, so it can be written back that way with ``v1=True``).
"""
from __future__ import annotations

import os

from tunewiz.caffe import caffe_pb2, prototxt
from tunewiz.caffe.downgrade_v1 import downgrade_to_v1
from tunewiz.caffe.upgrade import upgrade_net_as_needed
from tunewiz.caffe.upgrade_report import Note, UpgradeReport
from tunewiz.caffe.upgrade_solver import SOLVER_TYPE_NAMES, upgrade_solver_as_needed
from tunewiz.errors import FormatError


def load_net(path: str | os.PathLike) -> tuple[caffe_pb2.NetParameter, UpgradeReport]:
    """A net prototxt, parsed and upgraded; with Caffe's notes of what was upgraded."""
    net = prototxt.read_net_text(path)
    return net, upgrade_net_as_needed(net, str(path))


def read_net(path: str | os.PathLike, notes: list[Note] | None = None) -> caffe_pb2.NetParameter:
    """A net prototxt, parsed and upgraded (Caffe's ReadNetParamsFromTextFileOrDie)."""
    net, report = load_net(path)
    if notes is not None:
        notes.extend(report.notes)
    return net


def load_solver(path: str | os.PathLike) -> tuple[caffe_pb2.SolverParameter, UpgradeReport]:
    """A solver prototxt, parsed and upgraded; with Caffe's notes."""
    solver = prototxt.read_solver_text(path)
    return solver, upgrade_solver_as_needed(solver, str(path))


def read_solver(path: str | os.PathLike, notes: list[Note] | None = None) -> caffe_pb2.SolverParameter:
    """A solver prototxt, parsed and upgraded (Caffe's ReadSolverParamsFromTextFileOrDie)."""
    solver, report = load_solver(path)
    if notes is not None:
        notes.extend(report.notes)
    return solver


def load_net_binary(path: str | os.PathLike) -> tuple[caffe_pb2.NetParameter, UpgradeReport]:
    """A whole binary NetParameter (blobs included), upgraded as Caffe's
    ReadNetParamsFromBinaryFileOrDie does.  File checks and messages come from
    :func:`tunewiz.caffe.caffemodel.read_net_binary`; for weights alone use
    :func:`tunewiz.caffe.caffemodel.load_weights`, which is faster on big files."""
    from tunewiz.caffe.caffemodel import read_net_binary as read_stored

    net = read_stored(path).to_message()
    return net, upgrade_net_as_needed(net, str(path))


def read_net_binary(path: str | os.PathLike, notes: list[Note] | None = None) -> caffe_pb2.NetParameter:
    """A binary NetParameter, parsed and upgraded; Caffe's notes appended to ``notes``."""
    net, report = load_net_binary(path)
    if notes is not None:
        notes.extend(report.notes)
    return net


def write_net(path: str | os.PathLike, net: caffe_pb2.NetParameter, v1: bool = False) -> None:
    """Write a net prototxt (atomically), upgraded as given or, with ``v1``, in V1 form."""
    prototxt.write_text(path, downgrade_to_v1(net) if v1 else net)


def solver_to_v1(solver: caffe_pb2.SolverParameter) -> caffe_pb2.SolverParameter:
    """A copy with ``type`` written back as the old ``solver_type`` enum (inverse of the upgrade)."""
    out = caffe_pb2.SolverParameter()
    out.CopyFrom(solver)
    if out.HasField("type"):
        enums = {name: enum for enum, name in SOLVER_TYPE_NAMES.items()}
        if out.type not in enums:
            raise FormatError(f"solver type \"{out.type}\" has no old solver_type enum; "
                              "write the solver in the current format")
        out.solver_type = caffe_pb2.SolverParameter.SolverType.Value(enums[out.type])
        out.ClearField("type")
    return out


def write_solver(path: str | os.PathLike, solver: caffe_pb2.SolverParameter, v1: bool = False) -> None:
    """Write a solver prototxt (atomically); with ``v1``, ``type`` as the old ``solver_type``."""
    prototxt.write_text(path, solver_to_v1(solver) if v1 else solver)


def write_net_binary(path: str | os.PathLike, net: caffe_pb2.NetParameter) -> None:
    """Write a whole binary NetParameter atomically (:func:`tunewiz.caffe.caffemodel.write_caffemodel`)."""
    from tunewiz.caffe.caffemodel import write_caffemodel

    write_caffemodel(path, net)
