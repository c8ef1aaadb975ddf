"""Snapshots laid out as Caffe's, written atomically; resume from ours (exactly) or Caffe's (as Caffe).

``Solver::Snapshot`` writes ``<snapshot_prefix>_iter_<N>.caffemodel`` (the TRAIN net's NetParameter
with blobs) and ``<snapshot_prefix>_iter_<N>.solverstate`` = SolverState { iter, learned_net (the
caffemodel path exactly as built from snapshot_prefix, i.e. relative to the folder training ran
in), history (Caffe's layout), current_step }.  Real Caffe resumes from ours and we from Caffe's.

With ``snapshot_format: HDF5`` the pair is ``<prefix>_iter_<N>.caffemodel.h5`` and
``<prefix>_iter_<N>.solverstate.h5`` (:mod:`tunewiz.caffe.hdf5`, Caffe's layout); a solverstate whose
name ends in ``.h5`` is read as one, as Caffe's ``Solver::Restore`` does.

Beyond Caffe, a small sidecar ``<prefix>_iter_<N>.tunewiz.json`` keeps what the solverstate cannot:
the data cursors of every net, the smoothed-loss window and the torch RNG state, so stopping and
resuming our own run gives the same weights as not stopping (bit-identical on CPU).  A solverstate
without a sidecar (Caffe's) resumes as Caffe would: data cursors back at the first record and a
fresh smoothed-loss window.

The solverstate's bytes are :mod:`tunewiz.caffe.solverstate`'s (the format lives there, read and
written); this module names the files, writes the set atomically and finds what a solverstate points to.

Every file is written to a temporary name, then renamed (``os.replace``) once all of them are
complete, so a kill or a full disk during a snapshot leaves the previous snapshot whole.  The temporaries
are named as :mod:`tunewiz.caffe.tempfiles` says, so those of a killed trainer are removed by the next
one (:mod:`tunewiz.engine.train.runguard`).
"""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunewiz.caffe.solverstate import SolverState, encode_solverstate, make_solverstate, read_solverstate
from tunewiz.caffe.tempfiles import temp_path
from tunewiz.errors import FormatError, TunewizError

SIDECAR_SUFFIX = ".tunewiz.json"


class SnapshotError(TunewizError):
    """A snapshot that cannot be written or read (names the file and the fix)."""


def snapshot_filename(prefix: str, it: int, ext: str) -> str:
    """Caffe's ``SnapshotFilename``: snapshot_prefix + "_iter_" + iter + extension."""
    return f"{prefix}_iter_{it}{ext}"


def resolve(root: str | os.PathLike | None, path: str) -> Path:
    """A path as Caffe opens it: relative to the folder training runs in (``root``)."""
    p = Path(path)
    return p if p.is_absolute() or root is None else Path(root) / p


def check_writable(root, prefix: str) -> None:
    """Caffe's ``CheckSnapshotWritePermissions``: probe ``<prefix>_iter_0.tempfile`` before training."""
    probe = resolve(root, snapshot_filename(prefix, 0, ".tempfile"))
    try:
        with open(probe, "w"):
            pass
        probe.unlink()
    except OSError as exc:
        raise SnapshotError(
            f"Cannot write to snapshot prefix '{prefix}' ({exc.strerror}). Make sure that the directory "
            f"{probe.parent} exists and is writeable, or change snapshot_prefix in the solver.") from None


def hdf5_snapshots(sp, log) -> bool:
    """Whether snapshots are Caffe's HDF5 files: ``snapshot_format: HDF5`` where h5py is installed
    (without it: BINARYPROTO, which Caffe reads too, and a warning saying so)."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.hdf5 import HDF5Missing, h5py_module

    if sp.snapshot_format != caffe_pb2.SolverParameter.HDF5:
        return False
    try:
        h5py_module("snapshot_format: HDF5")
    except HDF5Missing as exc:
        log.warning("solver.cpp:45", f"{exc}; snapshots are written as BINARYPROTO (.caffemodel/.solverstate), "
                                     "which Caffe reads too.")
        return False
    return True


def check_prefix(sp, root) -> None:
    """``Solver::Init``'s checks: a snapshot interval needs a snapshot_prefix, whose folder must be writable."""
    if sp.snapshot and not sp.snapshot_prefix:
        raise SnapshotError("In solver params, snapshot is specified but snapshot_prefix is not.")
    if (sp.snapshot or sp.snapshot_after_train) and sp.snapshot_prefix:
        check_writable(root, sp.snapshot_prefix)


# -- writing --------------------------------------------------------------------------------------
@dataclass
class SnapshotFiles:
    caffemodel: str
    solverstate: str
    sidecar: str | None = None

    def paths(self) -> list[str]:
        """The Caffe pair (the sidecar is ours, beside it)."""
        return [self.caffemodel, self.solverstate]


def snapshot_names(prefix: str, it: int, hdf5: bool = False) -> SnapshotFiles:
    """The pair's names (``Solver::SnapshotFilename`` with ``.caffemodel[.h5]``/``.solverstate[.h5]``)."""
    ext = ".h5" if hdf5 else ""
    return SnapshotFiles(snapshot_filename(prefix, it, ".caffemodel" + ext),
                         snapshot_filename(prefix, it, ".solverstate" + ext))


def write_snapshot(root, prefix: str, it: int, write_model, history: list[np.ndarray], current_step: int,
                   sidecar: dict | None, hdf5: bool = False) -> SnapshotFiles:
    """Write the pair (+ sidecar) atomically; on any failure nothing is replaced and the error says so.

    ``write_model(path)`` writes the caffemodel to the (temporary) path it is given; the solverstate is
    SolverState { iter, learned_net = the caffemodel's name, history, current_step } (``hdf5``: both
    files in Caffe's HDF5 layout).
    """
    files = snapshot_names(prefix, it, hdf5)
    files.sidecar = snapshot_filename(prefix, it, SIDECAR_SUFFIX) if sidecar is not None else None
    if hdf5:
        from tunewiz.caffe.hdf5 import write_solverstate_hdf5

        def state_data(path):
            write_solverstate_hdf5(path, it, files.caffemodel, current_step, history)
    else:
        state_data = encode_solverstate(make_solverstate(it, files.caffemodel, history, current_step)).parts
    payloads = [(files.caffemodel, write_model), (files.solverstate, state_data)]
    if sidecar is not None:
        payloads.append((files.sidecar, [json.dumps(sidecar).encode()]))
    temps: list[tuple[Path, Path]] = []
    try:
        for name, data in payloads:
            final = resolve(root, name)
            temp = temp_path(final)  # tunewiz's name with our pid: the next trainer clears it if we are killed
            temps.append((temp, final))
            if callable(data):
                data(temp)
            else:
                _write_fsync(temp, data)
    except (OSError, TunewizError) as exc:
        for temp, _ in temps:
            temp.unlink(missing_ok=True)
        why = getattr(exc, "strerror", None) or str(exc)
        raise SnapshotError(
            f"could not write snapshot {files.solverstate} ({why}); nothing was replaced: "
            f"the previous snapshot is intact. Free disk space or change snapshot_prefix.") from None
    for temp, final in temps:
        os.replace(temp, final)
    return files


def _write_fsync(path: Path, parts: list) -> None:
    with open(path, "wb") as f:
        for part in parts:
            f.write(part)
        f.flush()
        os.fsync(f.fileno())


# -- reading --------------------------------------------------------------------------------------
@dataclass
class Restored:
    """What a ``--snapshot`` gives back."""

    iter: int
    current_step: int
    history: list[np.ndarray]
    caffemodel: Path
    learned_net: str
    note: str = ""  # how the caffemodel was found (said in the log)
    sidecar: dict | None = None


def read_state(path: str | os.PathLike) -> SolverState:
    """The solverstate given to ``--snapshot`` (or ``restore``), or a SnapshotError saying what the file is."""
    from tunewiz.caffe.hdf5 import is_hdf5_name, read_solverstate_hdf5

    try:
        if is_hdf5_name(path):
            it, learned_net, current_step, history = read_solverstate_hdf5(path)
            return make_solverstate(it, learned_net, history, current_step)
        state = read_solverstate(path)
    except FormatError as exc:
        raise SnapshotError(f"--snapshot {exc}") from None
    if not state.message.HasField("iter") and not state.history:
        raise SnapshotError(f"{path} does not look like a Caffe .solverstate (no iter, no history).")
    return state


def find_learned_net(state_path: Path, learned_net: str, root) -> tuple[Path, str]:
    """Caffe opens ``learned_net`` relative to the working folder; we also look beside the solverstate."""
    candidates = []
    if learned_net:
        candidates.append((resolve(root, learned_net), f"learned_net '{learned_net}' stored in the solverstate"))
        candidates.append((state_path.parent / Path(learned_net).name,
                           f"'{Path(learned_net).name}' beside the solverstate (the stored learned_net "
                           f"'{learned_net}' is relative to the folder the snapshot was written in)"))
    hdf5 = state_path.name.endswith(".solverstate.h5")
    sibling = state_path.with_name(state_path.name[: -len(".solverstate.h5")] + ".caffemodel.h5") if hdf5 \
        else state_path.with_suffix(".caffemodel")
    candidates.append((sibling, f"'{sibling.name}' beside the solverstate"))
    for path, note in candidates:
        if path.is_file():
            return path, note
    raise SnapshotError(
        f"the solverstate {state_path} names learned_net '{learned_net}', which exists neither relative to "
        f"{Path(root or '.').resolve()} nor beside the solverstate; put the .caffemodel next to it.")


def restore(path: str | os.PathLike, root) -> Restored:
    """Read a solverstate, locate its caffemodel and our sidecar (if any)."""
    p = Path(path)
    state = read_state(p)
    model, note = find_learned_net(p, state.learned_net, root)
    stem = next((p.name[: -len(ext)] for ext in (".solverstate", ".solverstate.h5") if p.name.endswith(ext)), None)
    sidecar_path = p.with_name(stem + SIDECAR_SUFFIX) if stem is not None else None
    sidecar = None
    if sidecar_path is not None and sidecar_path.is_file():
        try:
            sidecar = json.loads(sidecar_path.read_text())
        except ValueError:
            sidecar = None
        if sidecar is not None and sidecar.get("iter") != state.iter:
            sidecar = None  # a stale sidecar must never steer a resume
    return Restored(state.iter, state.current_step, state.history_arrays, model, state.learned_net, note, sidecar)


# -- sidecar helpers --------------------------------------------------------------------------------
def encode_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_bytes(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))
