"""Defaults sized to the new data: a schedule, tests and a TEST batch for a few hundred images, not ImageNet.

A Model Zoo solver is sized for 1.2 million images (CaffeNet: 450,000 iterations of 256, a test every
1,000); kept as is, a fine-tune on 200 images runs for years of epochs and tests once in a blue moon.
So, unless the user says otherwise (every value below has a flag):

* ``max_iter``: about :data:`EPOCHS` epochs of the training set at the effective batch
  (``batch_size * iter_size``), when the source's schedule is longer than :data:`FAR_LONGER` epochs;
  stepsize/stepvalue then follow the one rule of ``solver_edits`` (at most two lr drops);
* ``test_interval``: about once an epoch, when the source tests less often;
* the ends line up with the tests, so that the run's best snapshot can be told (``tunewiz classify
  --run`` takes the snapshot of the best logged test accuracy).  Caffe tests at iteration N when
  ``N % test_interval == 0`` — after the last iteration only when ``max_iter`` is a multiple of it — and
  snapshots at ``N % snapshot == 0`` and at the end.  So a ``max_iter`` the recipe proposed is rounded up
  to a multiple of ``test_interval``; a ``max_iter`` the user (or the solver) set is kept, and the
  divisor of it nearest the ``test_interval`` above is taken, when one lies within half of it and the
  user did not set ``test_interval`` (else the plan warns that the end is not tested); the ``snapshot``
  interval is the smallest
  multiple of ``test_interval`` that makes at most :data:`MAX_SNAPSHOTS` snapshots a run (a big net's
  snapshot is hundreds of MB);
* the TEST ``batch_size``: at most the validation set (a larger batch reads some images twice per
  test), and ``test_iter`` covers the validation set once (``solver_edits``).
"""
from __future__ import annotations

import math

from tunewiz.caffe import caffe_pb2
from tunewiz.recipe.data_edits import data_layers

EPOCHS = 20
FAR_LONGER = 30
MAX_SNAPSHOTS = 5


def iterations_per_epoch(train_count: int, batch: int, iter_size: int) -> int:
    """Solver iterations that show every training image once (at least 1)."""
    return max(1, math.ceil(train_count / max(batch * max(iter_size, 1), 1)))


def proposed_max_iter(source_max_iter: int, per_epoch: int, train_count: int, effective: int,
                      test_interval: int = 0) -> tuple[int, str] | None:
    """(max_iter, why) when the source's schedule is far longer than the data needs, else None; a multiple
    of ``test_interval`` when one is given (Caffe then tests the last iteration)."""
    if source_max_iter <= FAR_LONGER * per_epoch:
        return None
    new = EPOCHS * per_epoch
    why = (f"about {EPOCHS} epochs: {train_count} training images at an effective batch of {effective} are "
           f"{per_epoch} iteration(s) an epoch, and the source's {source_max_iter} iterations would be "
           f"{source_max_iter / per_epoch:,.0f} epochs")
    if test_interval > 0 and new % test_interval:
        new = tested_max_iter(new, test_interval)
        why += f"; rounded up to a multiple of test_interval {test_interval}, so the last iteration is tested"
    return new, why + "; --max-iter sets another"


def proposed_test_interval(solver: caffe_pb2.SolverParameter, per_epoch: int,
                           fit_max_iter: bool = False) -> tuple[int, str] | None:
    """(test_interval, why) when the solver tests less often than about once an epoch or, with
    ``fit_max_iter`` (its max_iter is not the recipe's to change), when a test_interval near its own
    divides max_iter and its own does not; else None."""
    if not len(solver.test_iter):
        return None
    interval, why = solver.test_interval, []
    if not 0 < interval <= per_epoch:
        interval = min(per_epoch, max(solver.max_iter, 1))
        why.append(f"about once an epoch ({per_epoch} iteration(s))")
    if fit_max_iter and solver.max_iter % interval:
        near = dividing_interval(solver.max_iter, interval)
        if near is not None:
            interval = near
            why.append(f"a divisor of max_iter {solver.max_iter}, so the last iteration is tested")
    if not why or interval == solver.test_interval:
        return None
    return interval, ", ".join(why) + "; --test-interval sets another"


def dividing_interval(max_iter: int, interval: int) -> int | None:
    """The divisor of ``max_iter`` nearest to ``interval`` (the smaller one on a tie: it tests more often)
    within half of it, or ``max_iter`` itself for a run shorter than ``interval``; None when there is none."""
    if max_iter <= interval:
        return max_iter
    near = [d for d in range(math.ceil(interval / 2), interval + interval // 2 + 1) if max_iter % d == 0]
    return min(near, key=lambda d: (abs(d - interval), d), default=None)


def tested_max_iter(max_iter: int, interval: int) -> int:
    """``max_iter`` rounded up to a multiple of ``interval`` (Caffe then tests the last iteration)."""
    return math.ceil(max_iter / interval) * interval


def snapshot_interval(max_iter: int, interval: int) -> tuple[int, str]:
    """(snapshot, why): the smallest multiple of ``interval`` (test_interval) that makes at most
    :data:`MAX_SNAPSHOTS` snapshots in ``max_iter`` iterations (the end's included), never past max_iter."""
    snapshot = min(math.ceil(max_iter / (MAX_SNAPSHOTS * interval)) * interval, max(max_iter, 1))
    count = math.ceil(max_iter / snapshot)
    return snapshot, (f"a multiple of test_interval {interval}: each snapshot is tested, so the best can be "
                      f"told; {count} in all, at most {MAX_SNAPSHOTS}: a big net's snapshot is hundreds of MB; "
                      "--snapshot-every sets another")


def untested_end(solver: caffe_pb2.SolverParameter) -> str | None:
    """The warning for a run that tests but not after its last iteration (None: it does, or never tests)."""
    interval, last = solver.test_interval, solver.max_iter
    if not len(solver.test_iter) or interval <= 0 or last <= 0 or last % interval == 0:
        return None
    return (f"max_iter {last} is not a multiple of test_interval {interval}: Caffe does not test the last "
            f"iteration, so the last snapshot has no test accuracy (--max-iter {tested_max_iter(last, interval)} "
            "or a --test-interval dividing max_iter tests it)")


def batch_size(net, phase) -> int:
    """The batch_size of the first data layer in ``phase`` (0 when it has none)."""
    ref = next((r for r in data_layers(net) if r.in_phase(phase)), None)
    if ref is None:
        return 0
    return ref.msg.image_data_param.batch_size if ref.type == "ImageData" else ref.msg.data_param.batch_size


def train_batch(net) -> int:
    """The TRAIN batch_size (0 when the net has no TRAIN data layer)."""
    return batch_size(net, caffe_pb2.TRAIN)


def set_train_batch(net, b: int) -> None:
    """Set the batch_size of every TRAIN data layer, in place."""
    for ref in data_layers(net):
        if ref.in_phase(caffe_pb2.TRAIN):
            (ref.msg.image_data_param if ref.type == "ImageData" else ref.msg.data_param).batch_size = b


def test_batch_lines(net, val_count: int, wanted: int | None) -> list[str]:
    """Set the TEST-only data layers' batch_size: ``wanted`` (--test-batch-size), else at most the
    validation set; in place, returns what changed."""
    lines = []
    for ref in data_layers(net):
        if not ref.in_phase(caffe_pb2.TEST) or ref.in_phase(caffe_pb2.TRAIN):
            continue
        sub = ref.msg.image_data_param if ref.type == "ImageData" else ref.msg.data_param
        old = sub.batch_size
        new = wanted or (min(old, val_count) if val_count else old)
        if new != old:
            why = "--test-batch-size" if wanted else (f"the {val_count} validation images: a larger batch reads "
                                                       "some twice per test")
            sub.batch_size = new
            lines.append(f"{ref.name} (TEST): batch_size {old} -> {new} ({why})")
    return lines
