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
        parser.add_argument("run_dir", metavar="RUN_DIR",
                            help="a run folder: its events.jsonl, or the trainer starting there")
    else:
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
        parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")


def run(args: argparse.Namespace) -> int:
    if args.command == "attach":
        run_dir = Path(args.run_dir)
        _check_run_folder(run_dir)
        from tunewiz.wizard.app import WizardApp

        return _run_app(WizardApp(runs_root=run_dir.resolve().parent, attach=run_dir))
    return _serve(args.host, args.port)


def _check_run_folder(run_dir: Path) -> None:
    """A run folder has events, or a trainer that has not written its first one yet (it builds the net and
    opens the data first): attaching right after starting one in the background is fine."""
    from tunewiz.runs.launch import is_running

    if (run_dir / layout.EVENTS).exists() or is_running(run_dir):
        return
    raise TunewizError(f"{run_dir} holds no events.jsonl and no trainer runs there (no {layout.LOCK} held, no live "
                       f"{layout.PID}): give the run folder that 'tunewiz train --run_dir' writes to.")


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
