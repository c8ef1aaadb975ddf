"""A solver's snapshot and its resume (``Solver::Snapshot`` / ``Solver::Restore``), composed from its parts.

Snapshot: "Snapshotting to binary proto file <prefix>_iter_N.caffemodel" (the TRAIN net's layers with
their blobs, as ``Net::ToProto``), then "Snapshotting solver state to binary proto file
<prefix>_iter_N.solverstate", plus our sidecar (``snapshot_format: HDF5``: "... to HDF5 file
<prefix>_iter_N.caffemodel.h5" and ".solverstate.h5").  Each part gives its own state: the TrainState its
``iter``/``current_step`` (solverstate) and smoothed-loss window (sidecar), the update rule its history
blobs, every data feed its cursor (``Feed.state``), torch its RNG.

Restore: iter, current_step and history from the solverstate ("SGDSolver: restoring history"), the
weights from its learned_net (or the caffemodel beside it; the log says which file was used).  With
our sidecar the data cursors, smoothed-loss window and RNG continue exactly; without it (a solverstate
Caffe wrote) every data cursor starts again at the first record, as in Caffe.
"""
from __future__ import annotations

from pathlib import Path

import torch

from tunewiz.engine.train import snapshot as snap

SIDECAR_FORMAT = 1


def save(solver) -> snap.SnapshotFiles:
    """Write ``solver``'s snapshot at its iteration (HDF5 files when ``solver.hdf5_snapshots``);
    remembers it as the last good one."""
    from tunewiz.engine.net.weights import save_caffemodel, save_hdf5

    sp, st, log, hdf5 = solver.sp, solver.state, solver.log, solver.hdf5_snapshots
    prefix = sp.snapshot_prefix
    names, kind = snap.snapshot_names(prefix, st.iter, hdf5), "HDF5 file" if hdf5 else "binary proto file"
    write_model = save_hdf5 if hdf5 else save_caffemodel
    log.info("snapshot_model", f"Snapshotting to {kind} {names.caffemodel}")
    log.info("snapshot_state", f"Snapshotting solver state to {kind} {names.solverstate}")
    try:
        files = snap.write_snapshot(solver.root, prefix, st.iter, lambda p: write_model(solver.net, p),
                                    solver.rule.history_arrays(), st.current_step, sidecar(solver), hdf5)
    except snap.SnapshotError as exc:
        log.error("snapshot_state", str(exc))
        raise
    st.last_snapshot = files.solverstate
    return files


def sidecar(solver) -> dict:
    """What the solverstate cannot hold, for an exact resume of our own runs."""
    return {
        "format": SIDECAR_FORMAT,
        "iter": solver.iter,
        "train_feeds": [f.state() for f in solver.net.feeds()],
        "test_feeds": [[f.state() for f in net.feeds()] for net in solver.test_nets],
        "window": solver.state.window(),
        "torch_rng": snap.encode_bytes(torch.get_rng_state().numpy().tobytes()),
    }


def restore(solver, path: str) -> None:
    """Caffe's ``Solver::Restore`` for a .solverstate (plus our sidecar when it is there)."""
    from tunewiz.engine.net.weights import copy_trained_layers

    log = solver.log
    restored = snap.restore(path if Path(path).is_absolute() else snap.resolve(solver.root, path), solver.root)
    solver.rule.set_history(restored.history, source=f"the solverstate {path}")
    copy_trained_layers(solver.net, [str(restored.caffemodel)])
    log.info("tunewiz", f"tunewiz: weights from {restored.caffemodel} ({restored.note})")
    solver.state.restore_counters(restored.iter, restored.current_step)
    log.info("restoring", "SGDSolver: restoring history")
    side = restored.sidecar
    if side is None or side.get("format") != SIDECAR_FORMAT:
        log.info("tunewiz", "tunewiz: no tunewiz sidecar beside the solverstate: data cursors start at the "
                            "first record and the smoothed loss starts afresh, as in Caffe")
        return
    _restore_feeds(solver.net.feeds(), side["train_feeds"])
    for net, states in zip(solver.test_nets, side["test_feeds"]):
        _restore_feeds(net.feeds(), states)
    solver.state.restore_window(side["window"])
    torch.set_rng_state(torch.frombuffer(bytearray(snap.decode_bytes(side["torch_rng"])), dtype=torch.uint8))
    log.info("tunewiz", "tunewiz: restored data cursors, smoothed-loss window and RNG from the sidecar")


def _restore_feeds(feeds, states) -> None:
    for feed, state in zip(feeds, states):
        feed.restore(state)
