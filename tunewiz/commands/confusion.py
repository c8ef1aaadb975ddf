"""``tunewiz test --confusion [--labels labels.txt] [--json FILE [--force]] [--misclassified N]``.

With any of these flags ``tunewiz test`` scores exactly one pass of the TEST net's validation set
(:mod:`tunewiz.infer.evaluate`): every record once, however the set divides into batches.  Without
``--iterations`` the pass is whole (``ceil(records / batch_size)`` batches); with ``--iterations N`` it is
``min(N, that)`` batches, the first ``min(N * batch_size, records)`` records.  Caffe's log (``Batch i, ...``,
``Loss``, the means) goes to stderr as without the flags; the report goes to stdout: counts and top-k, the
confusion matrix with the class names (the most confused pairs when it is too wide for 80 columns), each
class's records, recall and precision, and with ``--misclassified N`` the N most confident mistakes with
their record keys.  ``--json FILE`` writes all of it, the whole matrix and every class included; an existing
FILE is refused before any work unless ``--force``, and it is written whole or not at all.
"""
from __future__ import annotations

import argparse
import json
import sys

from tunewiz.outputs import check_output
from tunewiz.errors import TunewizError


class StoreGiven(argparse.Action):
    """Store the value and note that the flag was given (``<dest>_given``): --iterations' default is Caffe's 50,
    but the pass is whole unless the user asked for fewer batches."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"'{text}': give 0 or more")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scoring the validation set once, class by class (not in caffe test)")
    group.add_argument("--confusion", action="store_true",
                       help="one pass of the validation set: the confusion matrix, per-class recall and precision, "
                            "top-k (--iterations N: at most N batches)")
    group.add_argument("--labels", default="", help="labels.txt: one class name per line, label 0 first")
    group.add_argument("--json", default="", metavar="FILE", help="write every figure to FILE as JSON")
    group.add_argument("--misclassified", type=count, default=0, metavar="N",
                       help="list the N most confident mistakes with their record keys")
    group.add_argument("--force", action="store_true", help="let --json replace an existing file")


def wanted(args) -> bool:
    """Whether this ``tunewiz test`` scores class by class (any of the flags above)."""
    return bool(args.confusion or args.labels or args.json or args.misclassified)


def check_flags(args) -> list[str] | None:
    """Before any work: the --json file may be written, the labels read; returns the names (None: numbers)."""
    from tunewiz.infer.labels import read_labels

    if args.json:
        check_output(args.json, args.force, "--json", ".json file")
    return read_labels(args.labels) if args.labels else None


def score(args, net, log, names: list[str] | None) -> None:
    """One pass: Caffe's lines on the log, then the report on stdout and the JSON file."""
    from tunewiz.engine.train.timing import log_batch, log_means
    from tunewiz.infer.evaluate import BatchScored, Evaluation, evaluate, pass_batches
    from tunewiz.infer.labels import class_names
    from tunewiz.infer.report import report_lines, to_json
    from tunewiz.infer.targets import feed_of, find_target

    target = find_target(net, args.model)
    classes = int(net.blob_shapes[target.score][target.axis])
    names = class_names(classes, names, where=args.labels, blob=target.score)
    iterations = args.iterations if getattr(args, "iterations_given", False) else None
    feed = feed_of(net, target)
    log.info("caffe.cpp:290", f"Running for {pass_batches(len(feed.source), feed.batch_size, iterations)} "
                              "iterations.")
    result = None
    for event in evaluate(net, iterations, keep=args.misclassified, where=args.model):
        if isinstance(event, BatchScored):
            log_batch(log, event.index, event.outputs)
        elif isinstance(event, Evaluation):
            result = event
    log_means(log, net, result.caffe)
    if result.counted == 0:
        raise TunewizError(f"{args.model}: no records scored.")
    sys.stdout.write("\n".join(report_lines(result, names, misclassified=args.misclassified)) + "\n")
    if args.json:
        _write_json(args.json, to_json(result, names, model=args.model, weights=args.weights.split(","),
                                       labels=args.labels or None))
        print(f"wrote {args.json}")


def _write_json(path: str, data: dict) -> None:
    from tunewiz.caffe.wire import atomic_write

    atomic_write(path, [(json.dumps(data, indent=1) + "\n").encode("utf-8")])
