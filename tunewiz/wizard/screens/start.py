"""Step 5, Start: weights, a model folder or a snapshot; the checks before anything runs."""
from __future__ import annotations

from rich.text import Text
from textual import work
from textual.containers import Horizontal
from textual.widgets import Button, Input, RadioSet, Static

from tunewiz.wizard.widgets.toggles import Choice as RadioButton

from tunewiz.errors import TunewizError
from tunewiz.wizard import core_run as core
from tunewiz.wizard.messages import WorkDone, WorkFailed
from tunewiz.wizard.screens.base import StepScreen

KINDS = ("weights", "model", "snapshot")
PLACEHOLDER = {
    "weights": "pretrained .caffemodel (several: a,b)",
    "model": "model folder (prototxt + caffemodel + readme.md)",
    "snapshot": "a .solverstate to resume",
}


class StartScreen(StepScreen):
    KEY = "start"

    def __init__(self) -> None:
        super().__init__()
        self.checked: core.StartCheck | None = None
        self.checking = False

    def next_label(self) -> str:
        return "Start training > (Ctrl+N)"

    def compose_body(self):
        yield Static("Start from pretrained weights, a Model Zoo folder, or resume a snapshot.")
        with RadioSet(id="kind"):
            for kind in KINDS:
                yield RadioButton(kind, value=(kind == self.state.start_kind), id=f"kind-{kind}")
        with Horizontal(classes="row"):
            yield Input(self.state.start_path, placeholder=PLACEHOLDER[self.state.start_kind], id="start-path", compact=True)
            yield Button("Pick", id="pick", compact=True)
            yield Button("Check", id="check", compact=True)
        yield Static("", id="report")

    def on_mount(self) -> None:
        self.query_one("#start-path", Input).focus()
        if self.state.start_path:
            self.do_check()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self.state.start_kind = KINDS[event.index]
        self.query_one("#start-path", Input).placeholder = PLACEHOLDER[self.state.start_kind]
        self.checked = None
        self.query_one("#report", Static).update("")

    def on_step_button(self, button_id: str) -> None:
        if button_id == "pick":
            from tunewiz.wizard.widgets.picker import FilePicker

            def picked(path: str | None) -> None:
                if path:
                    self.query_one("#start-path", Input).value = path
                    self.do_check()

            self.app.push_screen(FilePicker(f"Choose the {self.state.start_kind}", self.state.start_path,
                                            folders=self.state.start_kind == "model"), picked)
        elif button_id == "check":
            self.do_check()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "start-path":
            self.do_check()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "start-path":
            self.checked = None

    def do_check(self) -> None:
        st = self.state
        st.start_path = self.query_one("#start-path", Input).value.strip()
        if not st.start_path:
            self.problem(f"nothing to start from: give the {PLACEHOLDER[st.start_kind]}.")
            return
        if st.net is None or st.solver is None:
            self.problem("the net or solver copy is missing: go back (Esc) to Net and Solver first.")
            return
        try:
            opts = core.start_options(st, st.start_kind, st.start_path)
        except TunewizError as exc:
            self.problem(str(exc))
            return
        self.checking = True
        self.say("Checking (building the net, reading the file)...")
        self.check_work(opts)

    @work(thread=True, exclusive=True, group="check")
    def check_work(self, opts) -> None:
        """Every stage of the recipe on the options, nothing written; posts the check."""
        try:
            self.post_message(WorkDone("check", core.check_start(opts)))
        except TunewizError as exc:
            self.post_message(WorkFailed("check", str(exc)))

    def on_work_done(self, msg: WorkDone) -> None:
        self.checking = False
        check: core.StartCheck = msg.result
        self.checked = check
        self.query_one("#report", Static).update("\n".join(check.lines))
        if check.ok:
            self.say("Checks passed. Ctrl+N writes the files and starts training.")
            self.query_one("#next").focus()
        else:
            self.problem(check.problem)

    def on_work_failed(self, msg: WorkFailed) -> None:
        self.checking = False
        self.checked = None
        self.query_one("#report", Static).update("")
        self.problem(msg.error)

    def validate(self) -> str | None:
        if self.checking:
            return "the checks are still running."
        if self.checked is None:
            return "press Check first (or Enter in the path field): nothing runs before the checks."
        if not self.checked.ok:
            return self.checked.problem
        return None

    def action_next(self) -> None:
        error = self.validate()
        if error:
            self.problem(error)
            return
        try:
            core.start_run(self.state, self.checked)
        except TunewizError as exc:
            details = getattr(exc, "details", None)  # a refused folder: who holds it, which files
            if details:
                self.query_one("#report", Static).update(Text("\n".join(details)))  # paths, not markup
            self.problem(str(exc))
            return
        self.app.go_next(self.KEY)
