"""The readers every other module uses: a net or solver file, upgraded as Caffe does on read.

* :func:`read_net` = Caffe's ``ReadNetParamsFromTextFileOrDie``: parse the text,
  then ``UpgradeNetAsNeeded`` (:mod:`tunewiz.caffe.upgrade`).
* :func:`read_solver` = ``ReadSolverParamsFromTextFileOrDie``: parse, then
  ``UpgradeSolverAsNeeded``.
* :func:`read_net_binary` = ``ReadNetParamsFromBinaryFileOrDie`` (whole message;
  for weights use :mod:`tunewiz.caffe.caffemodel`).

Caffe's upgrade log lines come back as :class:`~tunewiz.caffe.upgrade.Note` s: pass
a list as ``notes``, or use the ``load_*`` variants, which also return the
:class:`~tunewiz.caffe.upgrade.UpgradeReport` (``source_format`` tells whether the
file was written in V1, so it can be written back that way with ``v1=True``).
"""
from __future__ import annotations

import os
from pathlib import Path

from google.protobuf.message import DecodeError

from tunewiz.caffe import caffe_pb2, prototxt
from tunewiz.caffe.downgrade_v1 import downgrade_to_v1
from tunewiz.caffe.upgrade import Note, UpgradeReport, upgrade_net_as_needed
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


def parse_net_binary(path: str | os.PathLike) -> caffe_pb2.NetParameter:
    """A binary NetParameter (caffemodel) as written, not upgraded; clear errors for wrong files."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise FormatError(f"{p}: is a folder, expected a .caffemodel file") from None
    except OSError as exc:
        raise FormatError(f"{p}: cannot read ({exc.strerror})") from None
    if not data:
        raise FormatError(f"{p}: the file is empty; expected a binary NetParameter (.caffemodel)")
    if _looks_like_text(data):
        raise FormatError(f"{p}: this is a text file (a prototxt?), not a binary .caffemodel; "
                          "for a net prototxt use upgrade-net-text / a text reader")
    try:
        net = caffe_pb2.NetParameter.FromString(data)
    except DecodeError:
        raise FormatError(_not_a_net(p, data)) from None
    if len(net.layer) == 0 and len(net.layers) == 0:
        raise FormatError(f"{p}: holds no layers; this is not a .caffemodel "
                          "(a .solverstate or .binaryproto mean file?)")
    return net


def _not_a_net(p: Path, data: bytes) -> str:
    try:
        state = caffe_pb2.SolverState.FromString(data)
    except DecodeError:
        state = None
    if state is not None and (state.learned_net or len(state.history) > 0):
        return (f"{p}: this is a .solverstate (a training snapshot), not a .caffemodel; "
                f"its weights are in '{state.learned_net}'")
    return (f"{p}: not a binary NetParameter (.caffemodel): the bytes do not decode "
            "(truncated, or another kind of file)")


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\n\r\t" for ch in text)


def load_net_binary(path: str | os.PathLike) -> tuple[caffe_pb2.NetParameter, UpgradeReport]:
    """A binary NetParameter, parsed and upgraded (Caffe's ReadNetParamsFromBinaryFileOrDie)."""
    net = parse_net_binary(path)
    return net, upgrade_net_as_needed(net, str(path))


def read_net_binary(path: str | os.PathLike, notes: list[Note] | None = None) -> caffe_pb2.NetParameter:
    """A binary NetParameter, parsed and upgraded; notes appended to ``notes``."""
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
    """Write a binary NetParameter atomically (temporary file, then rename)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(net.SerializeToString())
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
