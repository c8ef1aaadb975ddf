"""The tunewiz wizard: the recipe's steps on screen, driving the headless core.

Screens live in ``tunewiz.wizard.screens`` (one per step) and are imported when first
shown, so the Welcome screen appears before torch, the engine or plotext are loaded.
"""
from __future__ import annotations

import importlib
import os
import time
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from tunewiz.wizard.state import WizardState

SCREENS_BY_KEY = {
    "welcome": ("welcome", "WelcomeScreen"),
    "data": ("data", "DataScreen"),
    "net": ("net", "NetScreen"),
    "solver": ("solver", "SolverScreen"),
    "start": ("start", "StartScreen"),
    "train": ("train", "TrainScreen"),
    "done": ("done", "DoneScreen"),
}
PROBE_ENV = "TUNEWIZ_STARTUP_PROBE"
NEXT = {"welcome": "data", "data": "net", "net": "solver", "solver": "start", "start": "train", "train": "done"}


def screen_class(key: str):
    module, name = SCREENS_BY_KEY[key]
    return getattr(importlib.import_module(f"tunewiz.wizard.screens.{module}"), name)


def start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker after the first paint, with the real stderr
    (Textual's capture has fileno -1; see ``tunewiz.data.workers.ensure_resource_tracker``)."""
    from tunewiz.data.workers import ensure_resource_tracker

    ensure_resource_tracker()


class WizardApp(App):
    """The wizard. ``attach`` opens the progress panel of a run folder directly."""

    TITLE = "tunewiz"
    SUB_TITLE = "fine-tune a Caffe model, step by step"
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self, runs_root: str | Path | None = None, attach: str | Path | None = None,
                 why_default: bool = True) -> None:
        super().__init__()
        self.state = WizardState() if runs_root is None else WizardState(runs_root=Path(runs_root).resolve())
        self.attach_dir = Path(attach).resolve() if attach else None
        self.why_default = why_default

    def on_mount(self) -> None:
        if self.attach_dir is not None:
            self.push_screen(screen_class("train")(self.attach_dir))
        else:
            self.push_screen(screen_class("welcome")())
        probe = os.environ.get(PROBE_ENV)
        if probe:  # bench/startup.py: note when the first screen is on the terminal, then leave
            self.call_after_refresh(self._probe, probe)
        else:
            self.call_after_refresh(start_resource_tracker)

    def _probe(self, path: str) -> None:
        # wall time, the screen shown, and this process's CPU seconds so far (wall - CPU = time spent waiting)
        Path(path).write_text(f"{time.time()!r} {type(self.screen).__name__} {time.process_time()!r}\n")
        self.exit()

    def go_next(self, key: str) -> None:
        """Show the step after ``key``."""
        nxt = NEXT.get(key)
        if nxt == "train":
            self.push_screen(screen_class("train")(self.state.run_dir))
        elif nxt == "done":
            self.push_screen(screen_class("done")(getattr(self.screen, "run_dir", self.state.run_dir)))
        elif nxt:
            self.push_screen(screen_class(nxt)())

    def go_to(self, key: str, *args) -> None:
        self.push_screen(screen_class(key)(*args))

    async def action_quit(self) -> None:
        """Quit; a running training keeps running (and the user is told so)."""
        run_dir = getattr(self.screen, "run_dir", None)
        from tunewiz.runs.launch import is_running

        if run_dir is not None and is_running(run_dir):
            from tunewiz.wizard.screens.confirm import Confirm

            def answer(choice: str | None) -> None:
                if choice == "leave":
                    self.exit(message=f"Training continues in {run_dir}; follow it with: tunewiz attach {run_dir}")
                elif choice == "stop":
                    from tunewiz.errors import TunewizError
                    from tunewiz.runs.launch import request_stop

                    try:
                        request_stop(run_dir)
                    except TunewizError as exc:  # it ended while the question was open
                        self.exit(message=str(exc))
                        return
                    self.exit(message=f"Asked the training in {run_dir} to stop (it snapshots first).")

            self.push_screen(Confirm(
                "Training is still running. It does not need this window.",
                [("leave", "Leave it running and quit"), ("stop", "Stop it (snapshot first) and quit"),
                 ("cancel", "Stay here")]), answer)
            return
        self.exit()
