"""Step 7, Done: results, files written, the equivalent command lines, and a quick try."""
from __future__ import annotations

from pathlib import Path

from textual import work
from textual.widgets import Button, Static

from tunewiz.errors import TunewizError
from tunewiz.runs.follow import load_history
from tunewiz.wizard import core_run as core
from tunewiz.wizard.messages import WorkDone, WorkFailed
from tunewiz.wizard.screens.base import StepScreen


class DoneScreen(StepScreen):
    KEY = "done"

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)

    def next_label(self) -> str:
        return "Quit (Ctrl+N)"

    def compose_body(self):
        h = load_history(self.run_dir)
        best = f"{h.best_accuracy():.4f}" if h.accuracy else "--"
        last = f"{h.accuracy[-1]:.4f}" if h.accuracy else "--"
        yield Static(f"[b]Best test accuracy {best}, last {last}[/b] after {h.iteration} iterations "
                     f"({h.state}{': ' + h.reason if h.reason else ''}).", id="results")
        files = sorted(str(p.relative_to(self.run_dir)) for p in self.run_dir.rglob("*")
                       if p.is_file() and p.suffix in (".prototxt", ".caffemodel", ".solverstate", ".binaryproto"))
        yield Static("Files written", classes="section")
        yield Static("\n".join(files) or "(none)", id="files")
        yield Static("The same run without the wizard", classes="section")
        yield Static(core.command_lines(self.app.state, self.run_dir), id="commands")
        yield Static("Quick try", classes="section")
        yield Button("Classify a few validation images", id="try", compact=True)
        yield Static("", id="try-result")

    def on_step_button(self, button_id: str) -> None:
        if button_id == "try":
            self.say("Classifying...")
            self.try_work()

    @work(thread=True, exclusive=True, group="try")
    def try_work(self) -> None:
        """Classify a few validation records with the newest snapshot; posts the lines."""
        try:
            self.post_message(WorkDone("try", core.quick_try(self.app.state, self.run_dir)))
        except TunewizError as exc:
            self.post_message(WorkFailed("try", str(exc)))

    def on_work_done(self, msg: WorkDone) -> None:
        result = self.query_one("#try-result", Static)
        result.update("\n".join(msg.result))
        self.call_after_refresh(self.query_one("#body").scroll_end, animate=False)  # the try is last: show it all
        self.say("Each line: a validation record, its true class, the predicted class and its probability.")

    def on_work_failed(self, msg: WorkFailed) -> None:
        self.problem(msg.error)

    def action_next(self) -> None:
        self.app.exit()
