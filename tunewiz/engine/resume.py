"""Writing a trainer's snapshot and resuming a trainer from one (``Solver::Snapshot`` / ``Restore``).

Snapshot: "Snapshotting to binary proto file <prefix>_iter_N.caffemodel" (the TRAIN net's layers with
their blobs, as ``Net::ToProto``), then "Snapshotting solver state to binary proto file
<prefix>_iter_N.solverstate", plus our sidecar (data cursors, smoothed-loss window, torch RNG).

Restore: iter, current_step and history from the solverstate ("SGDSolver: restoring history"), the
weights from its learned_net (or the caffemodel beside it; the log says which file was used).  With
our sidecar the data cursors, smoothed-loss window and RNG continue exactly; without it (a solverstate
Caffe wrote) every data cursor starts again at the first record, as in Caffe.
"""
from __future__ import annotations

import torch

from tunewiz.engine import snapshot as snap

SIDECAR_FORMAT = 1


def save_snapshot(trainer) -> snap.SnapshotFiles:
    from tunewiz.engine.weights import save_caffemodel

    sp, st, log = trainer.sp, trainer.st, trainer.log
    prefix = sp.snapshot_prefix
    model_name = snap.snapshot_filename(prefix, st.iter, ".caffemodel")
    state = snap.solverstate_message(st.iter, model_name, st.current_step, trainer.solver.history)
    log.info("snapshot_model", f"Snapshotting to binary proto file {model_name}")
    log.info("snapshot_state", "Snapshotting solver state to binary proto file "
                               f"{snap.snapshot_filename(prefix, st.iter, '.solverstate')}")
    try:
        files = snap.write_snapshot(trainer.root, prefix, st.iter, lambda p: save_caffemodel(trainer.net, p),
                                    state, sidecar(trainer))
    except snap.SnapshotError as exc:
        log.error("snapshot_state", str(exc))
        raise
    st.last_snapshot = files.solverstate
    return files


def sidecar(trainer) -> dict:
    """What the solverstate cannot hold, for an exact resume of our own runs."""
    return {
        "format": SIDECAR_FORMAT,
        "iter": trainer.st.iter,
        "train_feeds": [f.state() for f in trainer.net.feeds()],
        "test_feeds": [[f.state() for f in net.feeds()] for net in trainer.test_nets],
        "window": trainer.st.window(),
        "torch_rng": snap.encode_bytes(torch.get_rng_state().numpy().tobytes()),
    }


def restore_into(trainer, path: str) -> None:
    """Caffe's ``Solver::Restore`` for a .solverstate (plus our sidecar when it is there)."""
    from tunewiz.engine.weights import copy_trained_layers

    log, st = trainer.log, trainer.st
    restored = snap.restore(snap.resolve(trainer.root, path) if not _abs(path) else path, trainer.root)
    trainer.solver.set_history(restored.history, source=f"the solverstate {path}")
    copy_trained_layers(trainer.net, [str(restored.caffemodel)])
    log.info("tunewiz", f"tunewiz: weights from {restored.caffemodel} ({restored.note})")
    st.iter, st.current_step = int(restored.iter), int(restored.current_step)
    log.info("restoring", "SGDSolver: restoring history")
    side = restored.sidecar
    if side is None or side.get("format") != SIDECAR_FORMAT:
        log.info("tunewiz", "tunewiz: no tunewiz sidecar beside the solverstate: data cursors start at the "
                            "first record and the smoothed loss starts afresh, as in Caffe")
        return
    _restore_feeds(trainer.net.feeds(), side["train_feeds"])
    for net, states in zip(trainer.test_nets, side["test_feeds"]):
        _restore_feeds(net.feeds(), states)
    st.set_window(side["window"])
    torch.set_rng_state(torch.frombuffer(bytearray(snap.decode_bytes(side["torch_rng"])), dtype=torch.uint8))
    log.info("tunewiz", "tunewiz: restored data cursors, smoothed-loss window and RNG from the sidecar")


def _restore_feeds(feeds, states) -> None:
    for feed, state in zip(feeds, states):
        feed.restore(state)


def _abs(path: str) -> bool:
    from pathlib import Path

    return Path(path).is_absolute()
