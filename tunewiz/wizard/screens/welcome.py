"""Step 1, Welcome: a new fine-tune, the bundled sample, a run folder, or a running training."""
from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.containers import Horizontal
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tunewiz.runs import layout
from tunewiz.wizard.widgets.choices import MarkedOptionList

from tunewiz.wizard.screens.base import StepScreen
from tunewiz.wizard.state import SAMPLE_DIR, WizardState, next_run_name

INTRO = (
    "tunewiz takes a network someone already trained (a Caffe .caffemodel) and teaches it "
    "your own classes. Choose what to do with the arrow keys and press Enter. "
    "F1 explains each step; Esc goes back; Ctrl+Q quits."
)


class WelcomeScreen(StepScreen):
    KEY = "welcome"
    SHOW_FOOTER = False  # keys are named in the intro; the first screen stays light

    def compose_body(self):
        yield Static(INTRO, id="intro")
        with Horizontal(classes="row"):
            yield Label("Run name:")
            self._default_name = next_run_name(self.state.runs_root, "run1")
            yield Input(self._default_name, id="run-name", compact=True)
        yield Static(f"Run folders live in {self.state.runs_root}", id="runs-root")
        yield MarkedOptionList(*self._options(), id="choices")

    def _options(self) -> list[Option]:
        sample_note = "" if SAMPLE_DIR.is_dir() else " (not found in this install)"
        options = [
            Option(f"Open the bundled sample: LeNet digits 0-4 -> 5-9{sample_note}", id="sample"),
            Option("Start a new fine-tune with my own images and model", id="new"),
            Option("Start from a Model Zoo folder (prototxt + caffemodel + readme.md)...", id="model"),
            Option("Continue a run folder...", id="continue"),
        ]
        return options

    def _add_runs(self) -> None:
        """Run folders (found after the first paint, so the first screen shows at once)."""
        from tunewiz.runs.listing import find_runs

        choices = self.query_one("#choices", MarkedOptionList)
        for run in find_runs(self.state.runs_root):
            verb = "Re-attach to" if run.running else "Open"
            choices.add_marked(Option(Text(f"{verb} {run.label()}"), id=f"run:{run.path}"))

    def on_mount(self) -> None:
        self.query_one("#choices", OptionList).focus()
        self.query_one("#choices", OptionList).highlighted = 0
        self.call_after_refresh(self._add_runs)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.choose(event.option.id or "")

    def action_next(self) -> None:
        choices = self.query_one("#choices", OptionList)
        if choices.highlighted is None:
            self.problem("choose one of the options (arrow keys, then Enter).")
            return
        self.choose(choices.get_option_at_index(choices.highlighted).id or "")

    def choose(self, choice: str) -> None:
        name = self.query_one("#run-name", Input).value.strip()
        if choice in ("sample", "new", "model"):  # a new run starts from a clean slate
            self.app.state = WizardState(runs_root=self.state.runs_root)
        state = self.state
        if choice == "sample":
            if not SAMPLE_DIR.is_dir():
                self.problem(f"the bundled sample is missing ({SAMPLE_DIR}).")
                return
            state.use_sample()
            if name != self._default_name:  # a name the user typed wins over the sample's 'digits59'
                if not self._named(name):
                    return
                state.sample = True
            self.app.go_next(self.KEY)
        elif choice == "new":
            if self._named(name):
                self.app.go_next(self.KEY)
        elif choice == "model":
            from tunewiz.wizard.widgets.picker import FilePicker

            if not self._named(name):
                return
            self.app.push_screen(FilePicker("Choose the Model Zoo folder", str(Path.cwd()), folders=True),
                                 self._open_model)
        elif choice == "continue":
            from tunewiz.wizard.widgets.picker import FilePicker

            self.app.push_screen(FilePicker("Choose a run folder", str(state.runs_root), folders=True),
                                 self._open_run)
        elif choice.startswith("run:"):
            self._open_run(choice[4:])

    def _named(self, name: str) -> bool:
        if not name or not name.replace("_", "").isalnum():
            self.problem("type a run name (letters, digits or _), used as the run folder's name.")
            return False
        self.state.sample, self.state.run_name = False, name
        return True

    def _open_model(self, path: str | None) -> None:
        if not path:
            return
        from tunewiz.errors import TunewizError
        from tunewiz.wizard.core_run import use_model_folder

        try:
            lines = use_model_folder(self.state, path)
        except TunewizError as exc:
            self.problem(str(exc))
            return
        self.app.notify("\n".join(lines), title="Model folder checked")
        self.app.go_next(self.KEY)

    def _open_run(self, path: str | None) -> None:
        if not path:
            return
        run = Path(path).expanduser()
        if self._attach_conversion(run):
            return
        if not (run / layout.EVENTS).exists():
            self.problem(f"{run} has no events.jsonl: it is not a run folder that trained yet.")
            return
        self.state.runs_root, self.state.run_name = run.parent.resolve(), run.name
        self.app.go_to("train", run.resolve())

    def _attach_conversion(self, run: Path) -> bool:
        """A run folder whose data conversion was started and not taken in: the Data step follows it."""
        from tunewiz.wizard import core_data

        if not core_data.pending(run):
            return False
        self.app.state = WizardState(runs_root=run.parent.resolve())
        self.state.run_name, self.state.image_root = run.name, core_data.convert_root(run)
        self.app.go_to("data")
        return True
