"""``tunewiz pycaffe``: run an unchanged pycaffe script (``import caffe``) on tunewiz.

    tunewiz pycaffe --path              print the folder that holds the ``caffe`` compatibility package
    tunewiz pycaffe SCRIPT [ARGS ...]   run SCRIPT as ``python SCRIPT ARGS`` would, with that folder first
                                        on ``sys.path`` (and on PYTHONPATH, for the processes it starts)

The folder (``tunewiz/pycaffe/compat``) is not on ``sys.path`` by default, so a real pycaffe that the user
installed is never shadowed; ``PYTHONPATH=$(tunewiz pycaffe --path) python SCRIPT`` is the same route for
notebooks and test runners.  The script runs as ``__main__`` with ``sys.argv = [SCRIPT, ARGS ...]``; what
follows SCRIPT is the script's own, never read as tunewiz's flags.
"""
from __future__ import annotations

import argparse
import os
import runpy
import sys
from pathlib import Path

import tunewiz.pycaffe
from tunewiz.errors import TunewizError


def compat_folder() -> Path:
    """The folder whose ``caffe`` package is tunewiz's pycaffe API."""
    return Path(tunewiz.pycaffe.__file__).resolve().parent / "compat"


def add_arguments(parser: argparse.ArgumentParser, name: str = "pycaffe") -> None:
    parser.add_argument("--path", action="store_true", help="print the folder to put on PYTHONPATH and exit")
    parser.add_argument("script", nargs="?", metavar="SCRIPT", help="the pycaffe script to run")
    parser.add_argument("script_args", nargs=argparse.REMAINDER, metavar="ARGS", help="the script's arguments")
    _keep_script_args_as_written(parser)


def _keep_script_args_as_written(parser) -> None:
    """Only the flags before SCRIPT are tunewiz's: the rest reaches the script untouched (after a ``--``)."""
    normalise = parser.gflags_normalise

    def split_at_the_script(args: list[str]) -> list[str]:
        at = next((i for i, token in enumerate(args) if not token.startswith("-") or token == "--"), len(args))
        tail = args[at + 1:] if at < len(args) and args[at] == "--" else args[at:]
        return normalise(args[:at]) + (["--", *tail] if tail else [])

    parser.gflags_normalise = split_at_the_script


def run(args: argparse.Namespace) -> int:
    folder = compat_folder()
    if args.path:
        print(folder)
        return 0
    if not args.script:
        raise TunewizError("give a SCRIPT to run (tunewiz pycaffe SCRIPT [ARGS]), or --path to print the folder")
    script = Path(args.script)
    if not script.is_file():
        raise TunewizError(f"no such script: {args.script}")
    return _run_script(str(script), list(args.script_args), folder)


def _run_script(script: str, script_args: list[str], folder: Path) -> int:
    """Run ``script`` as ``__main__`` with the compatibility folder first on sys.path; 0 unless it exits."""
    saved_argv, saved_path, saved_env = sys.argv, list(sys.path), os.environ.get("PYTHONPATH")
    # as `python SCRIPT` does, the script's own folder is on sys.path too (after the caffe package's)
    sys.path[:0] = [str(folder), str(Path(script).resolve().parent)]
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), saved_env]))
    sys.argv = [script, *script_args]
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        _restore_env("PYTHONPATH", saved_env)
    return 0


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
