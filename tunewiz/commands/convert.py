"""``tunewiz convert-imageset``: images -> LMDB/LevelDB, like Caffe's ``convert_imageset``.

    tunewiz convert-imageset [flags] ROOTFOLDER/ LISTFILE DB_NAME     # Caffe's form
    tunewiz convert-imageset [flags] ROOTFOLDER/ DB_NAME              # one sub-folder per class

Flags keep Caffe's names and meaning and take gflags' forms (``-flag``, ``-encode_type=png``;
booleans ``--gray=true``, ``-shuffle=false``, ``--nogray``: see :mod:`tunewiz.commands.gflags`);
``--val_fraction``, ``--val_db``, ``--seed`` and
``--workers`` are ours.  Shows a progress bar, a warning per skipped image and a summary.
"""
from __future__ import annotations

import argparse
import sys

from tunewiz.commands.progress import bar
from tunewiz.errors import TunewizError

def add_arguments(parser: argparse.ArgumentParser, name: str = "convert-imageset") -> None:
    parser.usage = (f"tunewiz {name} [flags] ROOTFOLDER/ LISTFILE DB_NAME\n"
                    f"       tunewiz {name} [flags] ROOTFOLDER/ DB_NAME   (one sub-folder per class)")
    parser.add_argument("root", metavar="ROOTFOLDER/", help="folder the list's paths are relative to "
                        "(or the folder of class folders)")
    parser.add_argument("paths", nargs="+", metavar="[LISTFILE] DB_NAME",
                        help="list file ('path label' lines) and the database to create; "
                        "without LISTFILE every sub-folder of ROOTFOLDER is a class")
    parser.add_argument("--gray", action="store_true", help="read images in grayscale (1 channel)")
    parser.add_argument("--shuffle", action="store_true", help="shuffle the lines (seeded by --seed)")
    parser.add_argument("--backend", default="lmdb", choices=["lmdb", "leveldb"], help="database type (lmdb)")
    parser.add_argument("--resize_width", type=int, default=0, help="resize images to this width (0: keep)")
    parser.add_argument("--resize_height", type=int, default=0, help="resize images to this height (0: keep)")
    parser.add_argument("--check_size", action="store_true", help="stop when records differ in size")
    parser.add_argument("--encoded", action="store_true", help="store encoded images (file bytes) in the Datum")
    parser.add_argument("--encode_type", default="", help="re-encode as png/jpg (implies --encoded)")
    parser.add_argument("--val_fraction", type=float, default=0.0,
                        help="class-folder input: share of each class for a validation database")
    parser.add_argument("--val_db", default=None, help="validation database (default DB_NAME_val)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --shuffle and of the validation split")
    parser.add_argument("--workers", type=int, default=None, help="decode processes (default: one per CPU)")


def _options(args):
    from tunewiz.data.imageset import Options

    return Options(gray=args.gray, shuffle=args.shuffle, backend=args.backend, resize_width=args.resize_width,
                   resize_height=args.resize_height, check_size=args.check_size, encoded=args.encoded,
                   encode_type=args.encode_type.lower().lstrip("."), seed=args.seed, workers=args.workers)


def run(args: argparse.Namespace) -> int:
    from tunewiz.data import imageset as im

    if len(args.paths) > 2:
        raise TunewizError("usage: convert-imageset [flags] ROOTFOLDER/ LISTFILE DB_NAME "
                           "(or ROOTFOLDER/ DB_NAME for class folders)")
    opts = _options(args)
    if len(args.paths) == 2:
        if args.val_fraction:
            raise TunewizError("--val_fraction splits class folders; with a LISTFILE, make two lists instead.")
        events = im.convert_list(args.root, args.paths[0], args.paths[1], opts)
    else:
        events = im.convert_folders(args.root, args.paths[0], opts, args.val_fraction, args.val_db)
    return _show(events, folders=len(args.paths) == 1)


def _show(events, folders: bool = False) -> int:
    """Draw the events; Ctrl-C or an error ends the generator (its ``finally`` removes the partial DB).

    ``folders``: class-folder input, whose skipped images have no list line to name.
    """
    state = {"line_open": False, "folders": folders}
    try:
        return _show_events(events, state)
    finally:
        if state["line_open"]:  # the error or "interrupted" goes on a line of its own
            sys.stderr.write("\n")


def _show_events(events, state: dict) -> int:
    err = sys.stderr
    tty = err.isatty()
    im_types = _types()
    for ev in events:
        if isinstance(ev, im_types.Progress):
            if tty or ev.done == ev.total:
                err.write(bar(ev.done, ev.total, ev.rate, ev.skipped))
                err.flush()
                state["line_open"] = True
            continue
        if state["line_open"]:
            err.write("\n")
            state["line_open"] = False
        if isinstance(ev, im_types.Started):
            print(f"{ev.db}: {ev.total} images", file=err)
        elif isinstance(ev, im_types.Note):
            print(ev.message, file=err)
        elif isinstance(ev, im_types.Skipped):
            where = "" if state["folders"] else f"line {ev.line}: "  # the reason names the file
            print(f"warning: {where}{ev.reason} (skipped)", file=err)
        elif isinstance(ev, im_types.Finished):
            print(f"{ev.db}: {ev.records} records, {ev.skipped} skipped, {ev.classes} classes, "
                  f"{ev.seconds:.2f} s ({ev.records / max(ev.seconds, 1e-9):.0f} img/s)")
            if ev.skipped:
                print(f"  {ev.skipped} unreadable or missing image(s) skipped, see the warnings above", file=err)
            if ev.labels_file:
                print(f"  class names: {ev.labels_file}")
        elif isinstance(ev, im_types.Stopped):
            print(f"{ev.db}: stopped after {ev.done} images; the unfinished database was removed", file=err)
            return 1
    return 0


def _types():
    from tunewiz.data import imageset

    return imageset
