"""``tunewiz upgrade-net-text | upgrade-net-binary | upgrade-solver-text IN OUT``.

The same work as Caffe's ``upgrade_net_proto_text``, ``upgrade_net_proto_binary`` and
``upgrade_solver_proto_text``: read IN, upgrade it as Caffe does on read
(:mod:`tunewiz.caffe.upgrade`), print Caffe's log lines, write OUT.  Like Caffe, a
file that needs no upgrade is reported ("File already in latest proto format") and
written unchanged.  Unlike Caffe, an existing OUT is kept unless ``--force`` is
given, and nothing is written when IN cannot be read or upgraded.  IN as its own OUT
(``--force IN IN``) is refused when there is nothing to upgrade (exit 2, IN untouched) and,
for the text formats, when IN holds ``#`` comments: the rewrite would drop them.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tunewiz.caffe import netio
from tunewiz.caffe.upgrade_report import Note, UpgradeReport
from tunewiz.errors import TunewizError
from tunewiz.outputs import check_output

# command -> (what it reads, Caffe's "Wrote ..." line)
_KINDS = {
    "upgrade-net-text": ("a net prototxt (V0/V1)", "Wrote upgraded NetParameter text proto to {}"),
    "upgrade-net-binary": ("a binary net (.caffemodel, V0/V1)", "Wrote upgraded NetParameter binary proto to {}"),
    "upgrade-solver-text": ("a solver prototxt (solver_type enum)", "Wrote upgraded SolverParameter text proto to {}"),
}


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    what = _KINDS[name][0]
    parser.add_argument("input", metavar="IN", help=f"{what} to upgrade")
    parser.add_argument("output", metavar="OUT", help="where to write the upgraded file")
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    parser.add_argument("--quiet", action="store_true", help="print only warnings and errors")


def _print_notes(notes: list[Note], quiet: bool) -> None:
    for note in notes:
        if not (quiet and note.level == "info"):
            print(note, file=sys.stderr)


def _load_caffemodel(path: str):
    """The caffemodel's weights, upgraded by caffemodel.load_weights (blobs as numpy,
    legacy 4-D dims kept), and what that upgrade did (Caffe's notes)."""
    from tunewiz.caffe.caffemodel import load_weights

    weights = load_weights(path)
    return weights, weights.report


def _upgrade(name: str, path: str) -> tuple[object, UpgradeReport]:
    if name == "upgrade-net-text":
        return netio.load_net(path)
    if name == "upgrade-net-binary":
        return _load_caffemodel(path)
    return netio.load_solver(path)


def _write(name: str, path: str, message) -> None:
    if name == "upgrade-net-text":
        netio.write_net(path, message)
    elif name == "upgrade-net-binary":
        from tunewiz.caffe.caffemodel import save_weights

        save_weights(path, message)
    else:
        netio.write_solver(path, message)


def _in_place(args: argparse.Namespace) -> bool:
    try:
        return os.path.samefile(args.input, args.output)
    except OSError:  # one of them does not exist: not the same file
        return False


def _has_comments(path: str) -> bool:
    """Whether a prototxt holds a ``#`` comment outside a quoted string."""
    quote, escaped = None, False
    for ch in Path(path).read_text(encoding="utf-8", errors="replace"):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch in (quote, "\n"):
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return True
    return False


def _check_in_place(name: str, path: str, report: UpgradeReport) -> None:
    """IN written over itself: only when there is something to upgrade and nothing (comments) to lose."""
    if not report.upgraded:
        raise TunewizError(f"{path}: already in the latest proto format; nothing to upgrade, the file is left "
                           "as it was")
    if name != "upgrade-net-binary" and _has_comments(path):
        raise TunewizError(f"{path}: upgrading it in place would drop its # comments; nothing was written. Write "
                           f"the upgraded file elsewhere (tunewiz {name} {path} NEW.prototxt) and compare")


def run(args: argparse.Namespace) -> int:
    name = args.command
    check_output(args.output, args.force, "", "file")
    message, report = _upgrade(name, args.input)
    if _in_place(args):
        _check_in_place(name, args.input, report)
    notes = list(report.notes)
    if not report.upgraded:
        notes.append(Note("error", f"File already in latest proto format: {args.input}"))
    elif not report.success:
        notes.append(Note("error", "Encountered error(s) while upgrading prototxt; see details above."))
    _print_notes(notes, args.quiet)
    try:
        _write(name, args.output, message)
    except OSError as exc:
        raise TunewizError(f"{args.output}: cannot write ({exc.strerror})") from None
    if not args.quiet:
        print(_KINDS[name][1].format(args.output))
    return 0 if report.success else 1  # Caffe's tools: written anyway, `return !success`
