"""The ``tunewiz`` command line: the wizard, and subcommands that mirror Caffe's tools.

``tunewiz`` alone opens the wizard.  Each subcommand lives in its own module under
``tunewiz.commands`` and is imported only when it runs, so start-up stays fast
(torch is never imported for ``--help``).  A command module provides
``add_arguments(parser)`` and ``run(args) -> int``.  Every command's parser is a
:class:`~tunewiz.commands.gflags.GflagsParser`, so Caffe's ``-flag value`` / ``-flag=value`` /
``-noflag`` forms work everywhere, and Caffe's own tool names (``convert_imageset``,
``device_query``, ``download_model_binary.py``, ...) run the command they name.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from tunewiz.commands.gflags import GflagsParser
from tunewiz.errors import TunewizError
from tunewiz.threads import spin_briefly

# name -> (module under tunewiz.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("inspect", "tell what a Caffe file is and what it holds"),
    "upgrade-net-text": ("upgrade", "upgrade an old (V0/V1) net prototxt, like upgrade_net_proto_text"),
    "upgrade-net-binary": ("upgrade", "upgrade an old (V1) caffemodel, like upgrade_net_proto_binary"),
    "upgrade-solver-text": ("upgrade", "upgrade a solver's solver_type enum, like upgrade_solver_proto_text"),
    "convert-imageset": ("convert", "images + list (or class folders) -> LMDB/LevelDB, like convert_imageset"),
    "compute-image-mean": ("mean", "mean image of a database, like compute_image_mean"),
    "forward": ("forward", "run one forward pass and save blobs to .npz"),
    "classify": ("classify", "top-k classes of image files, like Caffe's cpp_classification example"),
    "export": ("export", "a deploy and its weights as ONNX, a torch.export program or a state dict"),
    "train": ("train", "train or fine-tune with a solver, like caffe train"),
    "test": ("train", "score a model on its TEST phase, like caffe test"),
    "time": ("train", "time forward/backward per layer, like caffe time"),
    "device-query": ("devicequery", "show a CUDA device's properties, like caffe device_query"),
    "download-model": ("download", "download a Model Zoo folder's caffemodel and check its sha1, "
                                   "like download_model_binary.py"),
    "finetune": ("finetune", "copy and edit net and solver for a fine-tune, then optionally train"),
    "attach": ("wizard", "follow a running training in the progress panel"),
    "serve": ("wizard", "serve the wizard in a browser (textual-serve)"),
    "pycaffe": ("pycaffe", "run a pycaffe script (import caffe) on tunewiz, or print its --path"),
}

# Caffe's names for its tools (and caffe's device_query action) -> our command, so Caffe's documented
# commands run as written; not listed in --help (one name per command there)
ALIASES: dict[str, str] = {
    "device_query": "device-query",
    "convert_imageset": "convert-imageset",
    "compute_image_mean": "compute-image-mean",
    "upgrade_net_proto_text": "upgrade-net-text",
    "upgrade_net_proto_binary": "upgrade-net-binary",
    "upgrade_solver_proto_text": "upgrade-solver-text",
    "download_model_binary.py": "download-model",  # Caffe's scripts/download_model_binary.py
    "download_model_binary": "download-model",
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunewiz",
        description="Fine-tune Caffe models step by step. Without a command, opens the wizard.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _version() -> str:
    from tunewiz import __version__

    return f"tunewiz {__version__}"


def _load(name: str):
    module_name, _ = COMMANDS[name]
    try:
        return importlib.import_module(f"tunewiz.commands.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("tunewiz.commands"):
            raise TunewizError(f"'tunewiz {name}' is not available in this build yet.") from None
        raise


def command_parser(name: str, module=None) -> GflagsParser:
    """The parser of ``tunewiz <name>`` (a command or one of Caffe's tool names in ALIASES)."""
    name = ALIASES.get(name, name)
    parser = GflagsParser(prog=f"tunewiz {name}", description=COMMANDS[name][1])
    (module or _load(name)).add_arguments(parser, name)
    return parser


def _never_fail_on_output_encoding() -> None:
    """A name Caffe stored as non-UTF-8 bytes (or a terminal that cannot show a character)
    is printed escaped, never a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and getattr(stream, "errors", "") == "strict":
            stream.reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    """Run tunewiz; return the exit status (0 = success)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _never_fail_on_output_encoding()
    spin_briefly()
    if not argv:
        argv = ["wizard-open"]
    name = ALIASES.get(argv[0], argv[0])
    if name not in COMMANDS and name != "wizard-open":
        _top_parser().parse_args(argv)  # prints help / version / "invalid choice" and exits
        return 2
    try:
        module = _load("attach" if name == "wizard-open" else name)
        if name == "wizard-open":
            return module.open_wizard()
        args = command_parser(name, module).parse_args(argv[1:])
        args.command = name
        return int(module.run(args) or 0)
    except TunewizError as exc:
        print(f"tunewiz: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tunewiz: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tunewiz inspect … | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file the OS refuses (name too long, no space, I/O error): one line, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"tunewiz: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
