"""``tunewiz`` (the wizard), ``tunewiz attach RUN_DIR`` and ``tunewiz serve``.

textual is imported only here and under ``tunewiz.wizard``; the core never needs it.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from tunewiz.errors import TunewizError
from tunewiz.runs import layout


def open_wizard() -> int:
    """Bare ``tunewiz``: open the wizard at its Welcome screen."""
    from tunewiz.wizard.app import WizardApp

    return _run_app(WizardApp())


def _run_app(app) -> int:
    app.run()
    if app.return_code:
        return int(app.return_code)
    return 0


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    if name == "attach":
        parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder holding events.jsonl")
    else:
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
        parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")


def run(args: argparse.Namespace) -> int:
    if args.command == "attach":
        run_dir = Path(args.run_dir)
        if not (run_dir / layout.EVENTS).exists():
            raise TunewizError(f"{run_dir} holds no events.jsonl: give the run folder that 'tunewiz train' writes to.")
        from tunewiz.wizard.app import WizardApp

        return _run_app(WizardApp(runs_root=run_dir.resolve().parent, attach=run_dir))
    return _serve(args.host, args.port)


def _serve(host: str, port: int) -> int:
    try:
        from textual_serve.server import Server
    except ImportError:
        raise TunewizError(
            "'tunewiz serve' needs the optional textual-serve package: pip install 'tunewiz[serve]' "
            "(or pip install textual-serve)."
        ) from None
    command = f"{shlex.quote(sys.executable)} -m tunewiz"
    print(f"Serving the wizard on http://{host}:{port} (Ctrl+C stops the server)")
    Server(command, host=host, port=port, title="tunewiz").serve()
    return 0
