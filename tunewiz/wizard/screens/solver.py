"""Step 4, Solver: copy the solver, the recipe's values pre-filled and editable, the lr schedule.

The values shown are the recipe's Solver stage (``tunewiz.recipe.finetune.plan_solver``) on the Net
stage; a field the user changes becomes that ``FinetuneOptions`` field (``--base-lr``, ``--max-iter``…),
so Start and the Done screen's command make the very same solver.
"""
from __future__ import annotations

from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Select, Static

from tunewiz.errors import TunewizError
from tunewiz.wizard import core
from tunewiz.wizard.screens.base import StepScreen

FIELDS = tuple(core.SOLVER_FIELDS)  # the solver's own names; each sets one FinetuneOptions field
NUMERICS = [("Caffe's exact order (default)", "caffe"), ("torch kernels (faster on the CPU)", "torch")]
NUMERICS_WHY = ("On the CPU, Caffe's own order gives Caffe's gradients to the last bit, at about Caffe's speed; "
                "torch's kernels are 1.7-1.8x faster and differ in those last bits.")
DEFAULTS = ("no source solver: the recipe writes Caffe's fine-tuning defaults (SGD, momentum 0.9, weight_decay "
            "0.0005, lr_policy step, gamma 0.1, base_lr 0.01 from scratch, divided below), as for a model "
            "released without one")


class SolverScreen(StepScreen):
    KEY = "solver"

    def __init__(self) -> None:
        super().__init__()
        self.source = None
        self.net_plan = None  # the Net stage this solver is planned on
        self.proposed: dict[str, str] = {}
        self.failure = ""  # why the solver did not load or its copy could not be made (Ctrl+N repeats it)

    def compose_body(self):
        from tunewiz.wizard.widgets.plots import LinePlot

        with Horizontal(classes="row"):
            yield Input(self.state.solver_src, placeholder=self._placeholder(), id="solver-src", compact=True)
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
                    yield Input(self._own(name), id=f"f-{name}", classes="opt", compact=True)
        yield Static("", id="solver-notes")
        yield LinePlot(id="lr-plot", classes="plot")
        yield Static("", id="solver-changes")
        yield Static("Numerics (how the CPU sums)", classes="section")
        yield Select(NUMERICS, value=self.state.numerics, allow_blank=False, id="numerics", compact=True)
        yield Static(NUMERICS_WHY, id="numerics-why")

    def _placeholder(self) -> str:
        if self.state.net_kind == "deploy":
            return "solver.prototxt (empty: defaults)"
        return "source solver.prototxt"

    def _own(self, name: str) -> str:
        """The user's own value of a field (kept when the screen is made again), else empty."""
        value = getattr(self.state, core.SOLVER_FIELDS[name])
        return "" if value is None else _fmt(value)

    def on_mount(self) -> None:
        if self.state.solver_src or self.state.net_kind == "deploy":  # a deploy needs no solver
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
        if event.select.id == "numerics" and event.value != self.state.numerics:
            self.state.numerics = str(event.value)
            self.say(f"numerics: {dict((v, k) for k, v in NUMERICS)[self.state.numerics]}; the trainer runs "
                     f"with --numerics {self.state.numerics}.")
        elif event.select.id == "divisor" and self.source is not None:
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
        if not st.solver_src and st.net_kind != "deploy":
            self.problem("no solver yet: type or pick the source solver.prototxt.")
            return
        try:
            self.source = core.load_solver(st.solver_src) if st.solver_src else core.default_solver()
            self.net_plan = core.net_plan_for_solver(st)
        except TunewizError as exc:
            self.source = None
            self.failure = str(exc)
            self.problem(self.failure)
            return
        self.failure = ""
        s = self.source
        self.query_one("#source-values", Static).update(
            ("" if st.solver_src else DEFAULTS + ".\n")
            + f"source: base_lr {s.base_lr:g}, lr_policy {s.lr_policy or 'fixed'}, max_iter {s.max_iter}, "
            f"snapshot {s.snapshot}")
        with self.prevent(Input.Changed):  # a field showing the old proposal is not the user's edit
            for name in FIELDS:
                field = self.query_one(f"#f-{name}", Input)
                if name in self.proposed and field.value.strip() == self.proposed[name]:
                    field.value = ""
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
                value = float(text) if name == "base_lr" else int(text)
            except ValueError:
                what = "a number" if name == "base_lr" else "a whole number"
                raise TunewizError(f"{name} must be {what} (got '{text}').") from None
            if not value > 0:
                raise TunewizError(f"{name} must be more than 0 (got '{text}').")
            values[name] = value
        return values

    def recompute(self, quiet: bool = False) -> None:
        """The recipe's proposal for the fields the user did not edit, then the Solver stage with the edits."""
        st = self.state
        try:
            edited = self._edited()
            for name, option in core.SOLVER_FIELDS.items():
                setattr(st, option, edited.get(name))
            proposal, stage = core.solver_stages(st, self.net_plan)
            with self.prevent(Input.Changed):
                for name in FIELDS:
                    if name not in edited:
                        value = getattr(proposal.solver, name)
                        if name == "test_iter":
                            value = value[0] if len(value) else 0
                        self.proposed[name] = _fmt(value)
                        self.query_one(f"#f-{name}", Input).value = self.proposed[name]
            points = core.lr_points(stage.solver)
        except TunewizError as exc:
            st.solver_stage = None  # Next is refused until the fields make a solver again
            self.failure = str(exc)
            self.problem(self.failure)
            return
        st.solver_stage, solver, self.failure = stage, stage.solver, ""
        self.query_one("#lr-plot").show_lines(
            [("learning rate", [p[0] for p in points], [p[1] for p in points], "braille")],
            f"lr schedule ({solver.lr_policy or 'fixed'})")
        self.query_one("#solver-notes", Static).update(
            f"net: {solver.net}\nsnapshot_prefix: {solver.snapshot_prefix}")
        changes = [line for sec in stage.sections for line in sec.lines] + [f"! {w}" for w in stage.warnings]
        self.query_one("#solver-changes", Static).update("\n".join(changes))
        if not quiet:
            own = f"; your edits: {', '.join(edited)}" if edited else ""
            self.say(f"base_lr {solver.base_lr:g} for {solver.max_iter} iterations{own}.")

    def validate(self) -> str | None:
        if self.source is None:
            if self.failure:  # the load's own error: the status line that said it may be overwritten
                return f"the solver did not load: {self.failure}"
            return "no solver loaded: type or pick the source solver.prototxt and press Load."
        try:
            self._edited()
        except TunewizError as exc:
            return str(exc)
        if self.state.solver is None:
            return f"the solver copy could not be made: {self.failure or 'load the solver again (Load)'}"
        return None


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
