"""Solverstates: Caffe's training snapshot (binary ``SolverState``), read and written.

``SolverState`` = ``iter`` (1), ``learned_net`` (2, the caffemodel written with
it, path as given by ``snapshot_prefix``), ``history`` (3, BlobProto per
learnable param; AdaDelta and Adam store two per param: all first moments, then
all second moments), ``current_step`` (4, the step counter of the ``step`` /
``multistep`` lr policies).  Caffe's ``SGDSolver::SnapshotSolverStateToBinaryProto``
writes them in that order, each history blob with ``shape`` and float ``data``.
History blobs are read straight into numpy (see :mod:`tunewiz.caffe.blobtree`).
The one writer of the format: training's snapshots (:mod:`tunewiz.engine.train.snapshot`) take their
bytes from :func:`encode_solverstate` too.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from google.protobuf.message import DecodeError

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.blobs import Blob
from tunewiz.caffe.blobtree import BlobTree, decode_tree, encode_tree
from tunewiz.caffe.detect import expect
from tunewiz.caffe.wire import Chunks, Source, WireError, atomic_write
from tunewiz.errors import FormatError


@dataclass
class SolverState:
    """A solverstate: iteration, the caffemodel it goes with, lr step, history blobs."""

    iter: int = 0
    learned_net: str = ""
    current_step: int = 0
    history: list[Blob] = field(default_factory=list)
    message: caffe_pb2.SolverState = field(default_factory=caffe_pb2.SolverState)  # as read, without history

    @property
    def history_arrays(self) -> list[np.ndarray]:
        return [b.data for b in self.history]

    def learned_net_path(self, cwd: str | os.PathLike = ".") -> Path:
        """Where Caffe looks for the weights: ``learned_net`` relative to the working directory."""
        return Path(cwd) / self.learned_net


def read_solverstate(path: str | os.PathLike) -> SolverState:
    """Read a ``.solverstate``; clear errors for a caffemodel, a text file, a truncated file..."""
    info = expect(path, "solverstate")
    fd = os.open(path, os.O_RDONLY)
    try:
        body, tree = decode_tree(Source(fd=fd, size=info.size), 0, info.size, "SolverState")
        message = caffe_pb2.SolverState.FromString(body)
    except (WireError, DecodeError) as exc:
        raise FormatError(f"{path}: damaged solverstate ({exc}); take another snapshot") from None
    finally:
        os.close(fd)
    for i, blob in enumerate(tree.blobs):
        try:
            blob.check(f"history blob {i}")
        except ValueError as exc:
            raise FormatError(f"{path}: {exc}; the file is damaged") from None
    return SolverState(message.iter, _text(message.learned_net), message.current_step, tree.blobs, message)


def _text(value: str | bytes) -> str:
    """A string field as str: protobuf hands back bytes when they are not UTF-8 (Caffe wrote
    them anyway); as a path they decode like the file system's names (surrogate escapes)."""
    return value if isinstance(value, str) else os.fsdecode(value)


def encode_solverstate(state: SolverState) -> Chunks:
    """The bytes of ``state`` as Caffe's ``SnapshotSolverStateToBinaryProto`` lays them out (in pieces)."""
    message = caffe_pb2.SolverState()
    message.CopyFrom(state.message)
    message.iter = int(state.iter)
    if state.learned_net != _text(message.learned_net):  # unchanged non-UTF-8 bytes are kept as read
        message.learned_net = state.learned_net
    message.current_step = int(state.current_step)  # Caffe always sets it
    history = [b if isinstance(b, Blob) else Blob.from_array(b) for b in state.history]
    return encode_tree(message.SerializeToString(), "SolverState", BlobTree(history))


def write_solverstate(path: str | os.PathLike, state: SolverState) -> None:
    """Write ``state`` atomically, laid out as Caffe writes it."""
    try:
        atomic_write(path, encode_solverstate(state).parts)
    except OSError as exc:
        raise FormatError(f"{path}: cannot write ({exc.strerror or exc})") from None


def make_solverstate(iter: int, learned_net: str, history: Sequence, current_step: int = 0) -> SolverState:
    """A new solverstate as Caffe's snapshot builds it (history arrays -> blobs with ``shape``)."""
    blobs = [h if isinstance(h, Blob) else Blob.from_array(h) for h in history]
    return SolverState(int(iter), learned_net, int(current_step), blobs)
