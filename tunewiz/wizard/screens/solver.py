"""Step 4, Solver: copy the solver, the recipe's values pre-filled and editable, the lr schedule."""
from __future__ import annotations

from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Select, Static

from tunewiz.errors import TunewizError
from tunewiz.wizard import core
from tunewiz.wizard.screens.base import StepScreen

FIELDS = ("base_lr", "max_iter", "snapshot", "stepsize", "test_iter", "test_interval")


class SolverScreen(StepScreen):
    KEY = "solver"

    def __init__(self) -> None:
        super().__init__()
        self.source = None
        self.proposed: dict[str, str] = {}

    def compose_body(self):
        from tunewiz.wizard.widgets.plots import LinePlot

        with Horizontal(classes="row"):
            yield Input(self.state.solver_src, placeholder="source solver.prototxt", id="solver-src", compact=True)
            yield Button("Pick", id="pick", compact=True)
            yield Button("Load", id="load", compact=True)
        with Horizontal(classes="row"):
            yield Label("base_lr divided by")
            yield Select([("10 (usual)", 10.0), ("100 (gentle)", 100.0)], value=self.state.lr_divisor,
                         allow_blank=False, id="divisor", compact=True)
        yield Static("", id="source-values")
        for pair in (FIELDS[:3], FIELDS[3:]):
            with Horizontal(classes="row"):
                for name in pair:
                    yield Label(name)
                    yield Input("", id=f"f-{name}", classes="opt", compact=True)
        yield Static("", id="solver-notes")
        yield LinePlot(id="lr-plot", classes="plot")

    def on_mount(self) -> None:
        if self.state.solver_src:
            self.load()
        else:
            self.query_one("#solver-src", Input).focus()

    def on_step_button(self, button_id: str) -> None:
        if button_id == "pick":
            from tunewiz.wizard.widgets.picker import FilePicker

            def picked(path: str | None) -> None:
                if path:
                    self.query_one("#solver-src", Input).value = path
                    self.load()

            self.app.push_screen(FilePicker("Choose the source solver", self.state.solver_src), picked)
        elif button_id == "load":
            self.load()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "divisor" and self.source is not None:
            self.state.lr_divisor = float(event.value)
            self.recompute()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "solver-src":
            self.load()
        elif event.input.id.startswith("f-"):
            self.recompute()
            self.focus_next()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("f-") and self.source is not None:
            self.recompute(quiet=True)

    def load(self) -> None:
        st = self.state
        st.solver_src = self.query_one("#solver-src", Input).value.strip()
        if not st.solver_src:
            self.problem("no solver yet: type or pick the source solver.prototxt.")
            return
        try:
            self.source = core.load_solver(st.solver_src)
        except TunewizError as exc:
            self.problem(str(exc))
            return
        s = self.source
        self.query_one("#source-values", Static).update(
            f"source: base_lr {s.base_lr:g}, lr_policy {s.lr_policy or 'fixed'}, max_iter {s.max_iter}, "
            f"snapshot {s.snapshot}")
        self.proposed = {}
        self.recompute()

    def _edited(self) -> dict:
        """Fields whose text differs from the recipe's proposal: the user's own edits."""
        values = {}
        for name in FIELDS:
            text = self.query_one(f"#f-{name}", Input).value.strip()
            if not text or text == self.proposed.get(name):
                continue
            try:
                values[name] = float(text) if name == "base_lr" else int(float(text))
            except ValueError:
                raise TunewizError(f"{name} must be a number (got '{text}').") from None
        return values

    def recompute(self, quiet: bool = False) -> None:
        """The recipe's proposal for the fields the user did not edit, then the solver with the edits."""
        try:
            edited = self._edited()
            base = core.edit_solver(self.source, self.state, {k: v for k, v in edited.items()
                                                               if k in ("max_iter", "snapshot")})
            with self.prevent(Input.Changed):
                for name in FIELDS:
                    if name not in edited:
                        value = getattr(base, name, 0)
                        if name == "test_iter":
                            value = value[0] if len(value) else 0
                        self.proposed[name] = _fmt(value)
                        self.query_one(f"#f-{name}", Input).value = self.proposed[name]
            solver = core.edit_solver(self.source, self.state, edited)
            points = core.lr_points(solver)
        except TunewizError as exc:
            self.problem(str(exc))
            return
        self.state.solver, self.state.solver_overrides = solver, edited
        self.query_one("#lr-plot").show_lines(
            [("learning rate", [p[0] for p in points], [p[1] for p in points], "braille")],
            f"lr schedule ({solver.lr_policy or 'fixed'})")
        self.query_one("#solver-notes", Static).update(
            f"net: {solver.net}\nsnapshot_prefix: {solver.snapshot_prefix}")
        if not quiet:
            own = f"; your edits: {', '.join(edited)}" if edited else ""
            self.say(f"base_lr {solver.base_lr:g} for {solver.max_iter} iterations{own}.")

    def validate(self) -> str | None:
        if self.source is None:
            return "no solver loaded: type or pick the source solver.prototxt and press Load."
        try:
            self._edited()
        except TunewizError as exc:
            return str(exc)
        if self.state.solver is None:
            return "the solver copy could not be made; see the message above."
        return None


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
