"""``tunewiz classify``: top-k classes of image files, as Caffe's ``examples/cpp_classification`` prints them.

    tunewiz classify --model DEPLOY --weights W [--mean MEAN.binaryproto | --mean-value B,G,R]
                     [--labels labels.txt] [--top-k 5] [--json FILE [--force]] IMAGE... | --list FILE | --folder DIR
    tunewiz classify --run RUN [--snapshot S] IMAGE...     # deploy, best snapshot, mean, scale, labels of a run

Preprocessing is classification.cpp's unless ``--convention classify.py`` (see
:mod:`tunewiz.infer.preprocess`).  Results go to stdout in classification.cpp's lines; notes, the
progress bar (folders and lists) and the accuracy (when the images' classes are known) go to stderr.
An image that cannot be read is one ``error:`` line naming it; the others are still classified, and the
command then exits 2.  ``--json FILE`` (refused if it exists, unless ``--force``) is written at the end,
atomically, with every result and error.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from tunewiz.commands.forward import NUMERICS_HELP
from tunewiz.commands.progress import bar
from tunewiz.outputs import check_output
from tunewiz.errors import TunewizError

PY_ONLY = ("images_dim", "oversample", "raw_scale", "channel_swap")


def add_arguments(parser: argparse.ArgumentParser, name: str = "classify") -> None:
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image files to classify")
    parser.add_argument("--list", metavar="FILE", help="a file of image paths, one per line ('path label' too)")
    parser.add_argument("--root", default="", metavar="FOLDER", help="the folder --list paths are relative to")
    parser.add_argument("--folder", metavar="DIR", help="classify every image under DIR")
    parser.add_argument("--model", metavar="DEPLOY.prototxt", help="the deploy net (default with --run: its own)")
    parser.add_argument("--weights", metavar="W.caffemodel", help="the trained weights")
    parser.add_argument("--run", metavar="RUN", help="a run folder: its deploy, best snapshot, mean, scale, labels")
    parser.add_argument("--snapshot", metavar="S", help="with --run: another snapshot (iteration, file name or path)")
    parser.add_argument("--mean", metavar="MEAN.binaryproto", help="the mean file the net was trained with")
    parser.add_argument("--mean-value", metavar="B,G,R", help="per-channel mean values instead of a file")
    parser.add_argument("--input-scale", type=float, help="multiply after the mean (Caffe's transform_param scale)")
    parser.add_argument("--labels", metavar="labels.txt", help="class names, one per line")
    parser.add_argument("--top-k", type=int, default=5, help="classes shown per image (default 5)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--force", action="store_true", help="overwrite the --json file if it exists")
    parser.add_argument("--convention", default="classification.cpp", choices=["classification.cpp", "classify.py"],
                        help="preprocessing: classification.cpp (default) or python/classify.py's")
    py = parser.add_argument_group("with --convention classify.py")
    py.add_argument("--images-dim", metavar="H,W", help="resize to this before cropping (default: the net's input)")
    py.add_argument("--oversample", action="store_true", help="average 10 crops (corners, center, mirrored)")
    py.add_argument("--raw-scale", type=float, help="multiply [0,1] pixels by this first (default 255)")
    py.add_argument("--channel-swap", metavar="2,1,0", help="channel order, RGB -> BGR (default 2,1,0)")
    parser.add_argument("--gpu", default="", metavar="N", help="CUDA device id (default: the CPU)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per forward pass (default 16)")
    parser.add_argument("--numerics", default="torch", choices=["caffe", "torch"], help=NUMERICS_HELP)


def _numbers(text: str | None, flag: str, kind=float, example: str = "104,117,123") -> tuple:
    if text is None:
        return ()
    try:
        return tuple(kind(part) for part in text.split(","))
    except ValueError:
        raise TunewizError(f"{flag} {text}: give numbers separated by commas (e.g. {example})") from None


def _settings(args, pick):
    from tunewiz.infer.preprocess import PY, Settings

    if args.convention != PY:
        given = [f"--{name.replace('_', '-')}" for name in PY_ONLY if getattr(args, name) not in (None, False)]
        if given:
            raise TunewizError(f"{', '.join(given)}: belong(s) to python/classify.py's preprocessing; add "
                               "--convention classify.py")
    dims = _numbers(args.images_dim, "--images-dim", int, "256,256")
    if dims and (len(dims) != 2 or min(dims) < 1):
        raise TunewizError(f"--images-dim {args.images_dim}: give height,width (e.g. 256,256)")
    own = args.mean is not None or args.mean_value is not None
    mean_file = args.mean if own else (pick.mean_file if pick else None)
    mean_value = _numbers(args.mean_value, "--mean-value") if own else (pick.mean_value if pick else ())
    scale = args.input_scale if args.input_scale is not None else (pick.scale if pick else None)
    swap = _numbers(args.channel_swap, "--channel-swap", int, "2,1,0") or None
    return Settings(args.convention, mean_file, mean_value, scale, dims or None, args.oversample, args.raw_scale, swap)


def _sources(args, labels):
    from tunewiz.infer.classify import Item
    from tunewiz.infer.inputs import folder_items, list_items

    given = [bool(args.images), bool(args.list), bool(args.folder)]
    if sum(given) != 1:
        raise TunewizError("give the images to classify: IMAGE files, or --list FILE, or --folder DIR (one of them)")
    if args.root and not args.list:
        raise TunewizError("--root is the folder of --list's paths; give it with --list")
    if args.list:
        return list_items(args.list, args.root)
    if args.folder:
        return folder_items(args.folder, labels)
    return [Item(path) for path in args.images]


def _device(gpu: str) -> str:
    """tunewiz test's device choice (the CPU, with a warning, where no CUDA device is)."""
    from tunewiz.commands.ranks import choose_device as caffe_device
    from tunewiz.engine.devices import prepare_device

    class _Warnings:
        def info(self, tag, message):  # Caffe's "Use CPU." lines: classify keeps stderr for what matters
            pass

        def warning(self, tag, message):
            print(f"warning: {message}", file=sys.stderr)

    return str(prepare_device(caffe_device(gpu, None, _Warnings())))


def _resolve(args):
    """(model, weights, labels path, the run's pick or None, lines to say) from the flags and --run."""
    from tunewiz.infer.runpick import pick_run

    if args.snapshot and not args.run:
        raise TunewizError("--snapshot picks a snapshot of a run: give --run RUN too (or --weights W.caffemodel)")
    pick = pick_run(args.run, args.snapshot) if args.run else None
    model = args.model or (str(pick.deploy) if pick else None)
    weights = args.weights or (str(pick.weights) if pick else None)
    if not model or not weights:
        raise TunewizError("give --model DEPLOY.prototxt and --weights W.caffemodel, or --run RUN (a run folder)")
    labels = args.labels or (str(pick.labels) if pick and pick.labels else None)
    said = []
    if pick:
        said.append(f"run {args.run}: {model}, {weights}" + ("" if args.weights else f" ({pick.why})"))
        said += [f"note: {note}" for note in pick.notes]
    if labels is None:
        where = f" (no labels.txt in run {args.run}'s data/ nor beside its training database)" if pick else ""
        said.append(f"note: no --labels{where}: classes print as their index (from 0); pass --labels labels.txt "
                    "for names")
    return model, weights, labels, pick, said


def run(args: argparse.Namespace) -> int:
    from tunewiz.infer.classify import ImageClassifier
    from tunewiz.infer.labels import read_labels

    if args.top_k < 1:
        raise TunewizError(f"--top-k {args.top_k}: give 1 or more")
    if args.json:
        check_output(args.json, args.force, "--json", ".json file")
    model, weights, labels_path, pick, said = _resolve(args)
    labels = read_labels(labels_path) if labels_path else None
    items = _sources(args, labels)
    settings = _settings(args, pick)
    classifier = ImageClassifier(model, weights, settings, labels, _device(args.gpu), args.numerics, args.batch_size)
    try:
        for line in said + classifier.notes + [f"preprocessing: {classifier.preprocess.describe()}"]:
            print(line, file=sys.stderr)
        records, tally = _show(classifier.classify(items, args.top_k), len(items), bool(args.list or args.folder))
    finally:
        classifier.close()
    summary = tally.accuracy_line(args.top_k)
    if summary:
        print(summary, file=sys.stderr)
    if args.json:
        _write_json(args.json, model, weights, classifier, labels_path, args.top_k, records, tally)
    if tally.unreadable:
        raise TunewizError(f"{tally.unreadable} of {len(items)} images could not be classified (see the error "
                           "lines above)")
    return 0


def _show(results, total: int, many: bool):
    """Print each result (stdout) and error (stderr), with a progress bar for folders and lists: redrawn at
    most 10 times a second on a terminal, a line every 10 s in a log (200 images or more)."""
    from tunewiz.infer.classify import Classified
    from tunewiz.infer.results import Tally, prediction_lines, result_record

    tally, records = Tally(), []
    tty = sys.stderr.isatty()
    drawing = many and (tty or total >= 200)
    shared = tty and sys.stdout.isatty()  # one terminal: the bar leaves its line before a result is printed
    start = last = time.monotonic()
    shown = False
    for result in results:
        tally.add(result)
        records.append(result_record(result))
        if shown and (shared or not isinstance(result, Classified)):
            sys.stderr.write("\r\033[K")
            shown = False
        if isinstance(result, Classified):
            print("\n".join(prediction_lines(result)), flush=shared)
        else:
            print(f"error: {result.message}", file=sys.stderr)
        done, now = tally.classified + tally.unreadable, time.monotonic()
        if drawing and (done == total or now - last > (0.1 if tty else 10)):
            last = now
            end = "\n" if done == total or not tty else ""
            sys.stderr.write(bar(done, total, done / max(now - start, 1e-9), tally.unreadable) + end)
            sys.stderr.flush()
            shown = tty and not end
    return records, tally


def _write_json(path, model, weights, classifier, labels_path, top_k, records, tally) -> None:
    from tunewiz.caffe.wire import atomic_write

    doc = {"model": model, "weights": weights, "labels": labels_path, "top_k": top_k,
           "output": classifier.output_name, "softmax_added": classifier.softmax_added,
           "preprocessing": classifier.preprocess.describe(), "accuracy": tally.accuracy(top_k),
           "classified": tally.classified, "unreadable": tally.unreadable, "results": records}
    atomic_write(path, [(json.dumps(doc, indent=1) + "\n").encode("utf-8")])
