"""Step 7, Done: results, how good the best snapshot is on the validation set, files written, the equivalent
command lines, and ways to try the net (last: what it shows is scrolled into view).

The validation section scores the run's best snapshot over one pass of its validation set as soon as the
screen opens (a @work thread; :mod:`tunewiz.wizard.core_score`): the confusion matrix (a table at 80 columns,
a heat-map from 100), each class's recall and precision, and the most confident mistakes by file name.
"""
from __future__ import annotations

import threading
from pathlib import Path

from textual import work
from textual.widgets import Button, Static

from tunewiz.errors import TunewizError
from tunewiz.runs.follow import load_history
from tunewiz.wizard import core_run as core
from tunewiz.wizard import core_score
from tunewiz.wizard.messages import Scoring, WorkDone, WorkFailed
from tunewiz.wizard.screens.base import StepScreen
from tunewiz.wizard.widgets import confusion as view
from tunewiz.wizard.widgets.picker import FilePicker


class DoneScreen(StepScreen):
    KEY = "done"

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.score = None  # the RunScore, once the pass is done
        self._stop = threading.Event()

    def next_label(self) -> str:
        return "Quit (Ctrl+N)"

    def compose_body(self):
        h = load_history(self.run_dir)
        best = f"{h.best_accuracy():.4f}" if h.accuracy else "--"
        last = f"{h.accuracy[-1]:.4f}" if h.accuracy else "--"
        yield Static(f"[b]Best test accuracy {best}, last {last}[/b] after {h.iteration} iterations "
                     f"({h.state}{': ' + h.reason if h.reason else ''}).", id="results")
        yield Static("The validation set, with the best snapshot", classes="section")
        yield Static("Scoring the validation set...", id="score-status")
        yield Static("", id="confusion")
        yield Static("", id="classes")
        yield Static("", id="mistakes")
        files = sorted(str(p.relative_to(self.run_dir)) for p in self.run_dir.rglob("*")
                       if p.is_file() and p.suffix in (".prototxt", ".caffemodel", ".solverstate", ".binaryproto"))
        yield Static("Files written", classes="section")
        yield Static("\n".join(files) or "(none)", id="files")
        yield Static("The same run without the wizard", classes="section")
        yield Static(core.command_lines(self.app.state, self.run_dir), id="commands")
        yield Static("Try the net", classes="section")
        yield Button("Classify a few validation images", id="try", compact=True)
        yield Button("Classify a file or folder...", id="classify", compact=True)
        yield Static("", id="try-result")

    def on_mount(self) -> None:
        super().on_mount()
        self.score_work()

    def on_unmount(self) -> None:
        self._stop.set()  # the pass stops after its current batch

    @work(thread=True, exclusive=True, group="score")
    def score_work(self) -> None:
        """The best snapshot over one pass of the validation set; posts progress, then the RunScore."""
        try:
            for event in core_score.score_best(self.run_dir, self._stop):
                self.post_message(Scoring(event))
        except TunewizError as exc:
            self.post_message(WorkFailed("score", str(exc)))

    def on_scoring(self, msg: Scoring) -> None:
        event = msg.event
        if isinstance(event, core_score.RunScore):
            self.score = event
            self.show_score()
        elif hasattr(event, "counted"):
            self.query_one("#score-status", Static).update(
                f"Scoring the validation set: {event.counted}/{event.records} records...")

    def show_score(self) -> None:
        width = self.query_one("#body").content_size.width or self.app.size.width - 4
        heat = self.app.size.width >= view.HEAT_WIDTH
        note = f"\nNo class names: {self.score.note}" if self.score.note else ""
        self.query_one("#score-status", Static).update(view.summary(self.score) + note)
        self.query_one("#confusion", Static).update(view.matrix_text(self.score, width, heat))
        self.query_one("#classes", Static).update(view.classes_text(self.score))
        self.query_one("#mistakes", Static).update(view.mistakes_text(self.score))

    def on_resize(self, event) -> None:
        if self.score is not None:
            self.show_score()

    def on_step_button(self, button_id: str) -> None:
        if button_id == "try":
            self.say("Classifying...")
            self.try_work()
        elif button_id == "classify":
            self.app.push_screen(FilePicker("Choose an image file or a folder of images", str(self.run_dir),
                                            folders=True, files_too=True), self.classify_path)

    def classify_path(self, path: str | None) -> None:
        if path:
            self.say(f"Classifying {path} with the best snapshot...")
            self.classify_work(path)

    @work(thread=True, exclusive=True, group="classify")
    def classify_work(self, path: str) -> None:
        """``tunewiz classify --run RUN PATH``: posts the lines so far every 16 images, then all of them."""
        lines = []
        try:
            for line in core_score.classify_lines(self.run_dir, path, self._stop):
                lines.append(line)
                if len(lines) % 16 == 0:
                    self.post_message(WorkDone("classify-part", tuple(lines)))
            self.post_message(WorkDone("classify", tuple(lines)))
        except TunewizError as exc:
            self.post_message(WorkFailed("classify", str(exc)))

    @work(thread=True, exclusive=True, group="try")
    def try_work(self) -> None:
        """Classify a few validation records with the best snapshot; posts the lines."""
        try:
            self.post_message(WorkDone("try", core.quick_try(self.app.state, self.run_dir)))
        except TunewizError as exc:
            self.post_message(WorkFailed("try", str(exc)))

    def on_work_done(self, msg: WorkDone) -> None:
        result = self.query_one("#try-result", Static)
        result.update("\n".join(msg.result))
        self.call_after_refresh(self.query_one("#body").scroll_end, animate=False)  # the try is last: show it all
        if msg.what == "try":
            self.say("Each line: a validation record, its true class, the predicted class and its probability.")
        elif msg.what == "classify":
            self.say("Each line: an image and its top 3 classes with their probabilities (tunewiz classify --run "
                     "RUN FILE... prints the same in Caffe's format).")

    def on_work_failed(self, msg: WorkFailed) -> None:
        if msg.what == "score":  # the rest of the screen stands: say why there is no matrix where it would be
            self.query_one("#score-status", Static).update(f"No confusion matrix: {msg.error}")
        else:
            self.problem(msg.error)

    def action_next(self) -> None:
        self.app.exit()
