"""Score a net over exactly one pass of its validation set: Caffe's test outputs, the confusion matrix, top-k,
per-class recall and precision, and the most confident mistakes with their record keys.

``evaluate(net, iterations=None, keep=10, stop=event)`` is a generator: a :class:`BatchScored` per batch, then
one :class:`Evaluation` (or :class:`EvalStopped` when ``stop`` is set between batches).  ``net`` is a built
``Net`` with its weights (a TRAIN_VAL's TEST phase, or any net with a data layer and an Accuracy or
SoftmaxWithLoss layer; see :mod:`tunewiz.infer.targets`).

One pass: n records (the database's record count, the list's lines), batch b: ``ceil(n / b)`` batches.
Caffe's Data layer wraps around, so the last batch's places past the n-th record hold the first records
again: they go into Caffe's per-batch and mean outputs (every place counts there, as in ``caffe test``), but
only the n - (ceil(n / b) - 1) * b records not yet seen go into the matrix, top-k and mistakes, so no record
is counted twice.  ``iterations`` caps the pass at that many batches (``min(iterations, ceil(n / b))``).
An ImageData layer with both ``shuffle`` and ``rand_skip`` reshuffles when it wraps, so its pass is the n
items from the skipped-to line on, not each line once.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from tunewiz.engine.train.labelguard import install_label_guard
from tunewiz.engine.train.timing import TestOutputs
from tunewiz.errors import TunewizError
from tunewiz.infer.confusion import Scores, Tally
from tunewiz.infer.targets import Target, feed_of, find_target


@dataclass(frozen=True)
class BatchScored:
    """One batch done: Caffe's outputs for it (``(name, value)`` pairs) and the records counted so far."""

    index: int
    batches: int
    counted: int
    records: int
    outputs: tuple


@dataclass(frozen=True)
class Evaluation:
    """A finished pass: where the records came from, Caffe's means, and the class-by-class scores."""

    target: Target
    records: int  # in the set
    counted: int  # scored here (records, unless --iterations cut the pass short)
    batch_size: int
    batches: int
    caffe: dict  # Caffe's test() means: {"loss": x, "outputs": {name: mean}}
    scores: Scores

    @property
    def complete(self) -> bool:
        return self.counted == self.records


@dataclass(frozen=True)
class EvalStopped:
    """The stop event was set: ``batches`` were scored before it."""

    batches: int


def pass_batches(records: int, batch_size: int, iterations: int | None = None) -> int:
    """Batches in one pass, ``ceil(records / batch_size)``, at most ``iterations``."""
    full = -(-records // batch_size)
    return full if iterations is None else max(0, min(int(iterations), full))


def top_ks(target: Target, classes: int) -> tuple:
    """Top-k reported: 1, every Accuracy layer's top_k on the score blob, and 5 when there are more than 5
    classes (ImageNet's habit)."""
    ks = {1, *target.top_ks} | ({5} if classes > 5 else set())
    return tuple(sorted(k for k in ks if k <= classes))


def evaluate(net, iterations: int | None = None, keep: int = 10, stop: threading.Event | None = None,
             where: str = "the net") -> Iterator:
    """See the module docstring."""
    target = find_target(net, where)
    feed = feed_of(net, target)
    records, batch = len(feed.source), feed.batch_size
    batches = pass_batches(records, batch, iterations)
    capture = _Capture(net, target)
    install_label_guard(net)  # a label past the classes is one message naming its record, not an IndexError
    classes = int(net.blob_shapes[target.score][target.axis])
    tally = Tally(classes, top_ks(target, classes), keep, target.ignore_label)
    outputs = TestOutputs(net)
    counted = 0
    for i in range(batches):
        if stop is not None and stop.is_set():
            yield EvalStopped(i)
            return
        with torch.no_grad():
            values = outputs.add(net.forward())
        take = min(batch, records - counted)  # the records past the n-th are the first ones again
        scores, labels = capture.items(take)
        per_record = len(labels) // take if take else 0
        keys = [k for k in feed.last_keys[:take] for _ in range(per_record)]
        tally.add(scores, labels, keys)
        counted += take
        yield BatchScored(i, batches, counted, records, tuple(values))
    yield Evaluation(target, records, counted, batch, batches, outputs.means(), tally.result())


def run_evaluation(net, iterations: int | None = None, keep: int = 10, where: str = "the net") -> Evaluation:
    """The Evaluation of a whole pass, without its progress."""
    result = None
    for event in evaluate(net, iterations, keep, where=where):
        result = event
    return result


class _Capture:
    """Keeps the target layer's bottoms as it runs (its score blob may be changed in place by a later layer)."""

    def __init__(self, net, target: Target) -> None:
        self.target, self.bottoms = target, None
        self.batch = int(net.blob_shapes[target.score][0]) if net.blob_shapes[target.score] else 1
        net.add_hooks(net.layer_by_name(target.layer), before=self._keep)

    def _keep(self, layer, bottoms) -> None:
        self.bottoms = (bottoms[0].detach(), bottoms[1].detach())

    def items(self, take: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``take`` records' items: scores (items, classes) and labels (items,)."""
        if self.bottoms is None:
            raise TunewizError(f"layer '{self.target.layer}' did not run in the forward pass, so nothing was scored.")
        scores, labels = (t.float().cpu().numpy() for t in self.bottoms)
        axis, shape = self.target.axis, scores.shape
        classes = shape[axis]
        outer, inner = int(np.prod(shape[:axis])), int(np.prod(shape[axis + 1:]))
        # (outer, C, inner) -> one row of C scores per item, items grouped by record (outer is batch * rest)
        rows = scores.reshape(outer, classes, inner).transpose(0, 2, 1).reshape(self.batch, -1, classes)
        labels = labels.reshape(self.batch, -1)
        return rows[:take].reshape(-1, classes), labels[:take].reshape(-1)
