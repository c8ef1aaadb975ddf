"""Defaults sized to the new data: a schedule, tests and a TEST batch for a few hundred images, not ImageNet.

A Model Zoo solver is sized for 1.2 million images (CaffeNet: 450,000 iterations of 256, a test every
1,000); kept as is, a fine-tune on 200 images runs for years of epochs and tests once in a blue moon.
So, unless the user says otherwise (every value below has a flag):

* ``max_iter``: about :data:`EPOCHS` epochs of the training set at the effective batch
  (``batch_size * iter_size``), when the source's schedule is longer than :data:`FAR_LONGER` epochs;
  stepsize/stepvalue then follow the one rule of ``solver_edits`` (at most two lr drops);
* ``test_interval``: about once an epoch, when the source tests less often;
* the TEST ``batch_size``: at most the validation set (a larger batch reads some images twice per
  test), and ``test_iter`` covers the validation set once (``solver_edits``).
"""
from __future__ import annotations

import math

from tunewiz.caffe import caffe_pb2
from tunewiz.recipe.data_edits import data_layers

EPOCHS = 20
FAR_LONGER = 30


def iterations_per_epoch(train_count: int, batch: int, iter_size: int) -> int:
    """Solver iterations that show every training image once (at least 1)."""
    return max(1, math.ceil(train_count / max(batch * max(iter_size, 1), 1)))


def proposed_max_iter(source_max_iter: int, per_epoch: int, train_count: int, effective: int) -> tuple[int, str] | None:
    """(max_iter, why) when the source's schedule is far longer than the data needs, else None."""
    if source_max_iter <= FAR_LONGER * per_epoch:
        return None
    new = EPOCHS * per_epoch
    why = (f"about {EPOCHS} epochs: {train_count} training images at an effective batch of {effective} are "
           f"{per_epoch} iteration(s) an epoch, and the source's {source_max_iter} iterations would be "
           f"{source_max_iter / per_epoch:,.0f} epochs; --max-iter sets another")
    return new, why


def proposed_test_interval(solver: caffe_pb2.SolverParameter, per_epoch: int) -> tuple[int, str] | None:
    """(test_interval, why) when the solver tests less often than about once an epoch, else None."""
    if not len(solver.test_iter):
        return None
    current = solver.test_interval
    if 0 < current <= per_epoch:
        return None
    interval = min(per_epoch, max(solver.max_iter, 1))
    return interval, f"about once an epoch ({per_epoch} iteration(s)); --test-interval sets another"


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
