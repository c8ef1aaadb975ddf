"""The Done screen's scoring: the run's best snapshot over one pass of its validation set (the TEST phase of
the run's train_val), as :func:`tunewiz.infer.evaluate.evaluate` scores it for ``tunewiz test --confusion``.

``score_best(run_dir, stop)`` yields the pass's :class:`~tunewiz.infer.evaluate.BatchScored` events, then one
:class:`RunScore` (or ``EvalStopped``); every one is immutable, so the worker posts them as they are.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunewiz.errors import TunewizError
from tunewiz.runs import layout

MISTAKES = 8  # the most confident mistakes shown


@dataclass(frozen=True)
class RunScore:
    """The best snapshot's pass: the snapshot, the Evaluation, the class names and a note about them."""

    model: str
    evaluation: object  # tunewiz.infer.evaluate.Evaluation
    names: tuple
    note: str = ""


def best_model(run_dir) -> str:
    """The run's snapshot with the best test accuracy (else its newest); a TunewizError when it has none."""
    from tunewiz.infer.runpick import best_snapshot

    return str(best_snapshot(run_dir)[0])


def label_names(run_dir) -> list[str] | None:
    """The run's labels.txt (written beside the databases by the conversion), None without one."""
    from tunewiz.infer.labels import read_labels

    for path in (layout.data_dir(run_dir) / layout.LABELS, Path(run_dir) / layout.LABELS):
        if path.is_file():
            return read_labels(path)
    return None


def _names(run_dir, classes: int) -> tuple[tuple, str]:
    from tunewiz.infer.labels import class_names

    try:
        names = label_names(run_dir)
        return tuple(class_names(classes, names, where=layout.LABELS)), ""
    except TunewizError as exc:  # the numbers still show the matrix; the note says why there are no names
        return tuple(class_names(classes)), str(exc)


def score_best(run_dir, stop=None, keep: int = MISTAKES):
    """See the module docstring."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import copy_trained_layers
    from tunewiz.infer.evaluate import Evaluation, evaluate
    from tunewiz.wizard.core import TRAIN_VAL, load_net

    run_dir = Path(run_dir)
    model = best_model(run_dir)
    train_val = run_dir / TRAIN_VAL
    if not train_val.is_file():
        raise TunewizError(f"{run_dir} has no {TRAIN_VAL}: the validation set is named there.")
    net = Net(load_net(train_val), caffe_pb2.TEST, device="cpu")
    try:
        copy_trained_layers(net, [model])
        for event in evaluate(net, keep=keep, stop=stop, where=str(train_val)):
            if isinstance(event, Evaluation):
                classes = event.scores.classes
                yield RunScore(model, event, *_names(run_dir, classes))
            else:
                yield event
    finally:
        net.close()


def classify_lines(run_dir, path: str, stop=None):
    """``tunewiz classify --run RUN PATH`` for the Done screen: yields its lines, one per image
    (``file: label p, label p, label p``), after a header saying which snapshot and preprocessing."""
    from tunewiz.infer.classify import Classified
    from tunewiz.infer.runclassify import classify_in_run

    for result in classify_in_run(run_dir, path, stop=stop):
        if isinstance(result, str):
            yield result
        elif isinstance(result, Classified):
            yield f"{Path(result.path).name}: " + ", ".join(f"{p.name} {p.probability:.2f}" for p in result.predictions)
        else:
            yield f"{Path(result.path).name}: cannot classify ({result.message})"
