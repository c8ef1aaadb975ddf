"""Step 3, Net: copy the train_val (and deploy), change the classes, freeze, batch size, the mean, diff.

Every preview is the recipe's Net stage (``core.net_view`` -> ``tunewiz.recipe.finetune.plan_net``) on
the wizard's choices, the same stage Start runs before it writes.
"""
from __future__ import annotations

from textual import work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static

from tunewiz.errors import TunewizError
from tunewiz.wizard import core
from tunewiz.wizard.messages import FreezeThrough, WorkDone, WorkFailed
from tunewiz.wizard.screens.base import StepScreen
from tunewiz.wizard.widgets.devices import DeviceBox
from tunewiz.wizard.widgets.preprocessing import PreprocessingBox
from tunewiz.wizard.widgets.toggles import TickBox

MEAN_WHY = ("The pretrained weights learned inputs preprocessed their way (their mean subtracted, if any), so "
            "the copy keeps that preprocessing; the new data's mean helps when your images differ a lot from "
            "the original ones (e.g. gray or medical images).")


COLUMNS = ("", "layer", "type", "top shape", "params", "lr_mult", "state")  # "": '>' on the cursor row


class LayerTable(DataTable):
    """The layer table; F freezes through the highlighted layer, U unfreezes all (a FreezeThrough message
    to its screen)."""

    BINDINGS = [
        Binding("f", "freeze", "Freeze through here"),
        Binding("u", "unfreeze", "Unfreeze all"),
    ]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Mark the cursor row with '>' (the highlight is not carried by colour alone)."""
        for row in range(self.row_count):
            mark = ">" if row == event.cursor_row else " "
            if self.get_cell_at((row, 0)) != mark:
                self.update_cell_at((row, 0), mark)

    def action_freeze(self) -> None:
        row = self.cursor_row
        if 0 <= row < self.row_count:
            self.post_message(FreezeThrough(str(self.get_row_at(row)[1])))

    def action_unfreeze(self) -> None:
        self.post_message(FreezeThrough(""))


class NetScreen(StepScreen):
    KEY = "net"

    def __init__(self) -> None:
        super().__init__()
        self.source = None  # the source NetParameter (never edited)
        self.pending = False
        self.deploy_source = None
        self.generation = 0  # a slower, older preview must not overwrite a newer one
        self.failure = ""  # why the source did not load or the copy could not be made (Ctrl+N repeats it)

    def compose_body(self):
        yield Static("The source prototxt is never edited: the wizard works on a copy in the run folder. "
                     "A deploy alone will do: its train_val is written from it.")
        with Horizontal(classes="row"):
            yield Input(self.state.net_src, placeholder="train_val.prototxt (or a deploy.prototxt)", id="net-src",
                        compact=True)
            yield Button("Pick", id="pick-net", compact=True)
        with Horizontal(classes="row"):
            yield Input(self.state.deploy_src, placeholder="deploy.prototxt (optional)", id="deploy-src", compact=True)
            yield Button("Pick", id="pick-deploy", compact=True)
            yield Button("Load", id="load", compact=True)
        yield PreprocessingBox(self.state, id="pre-box")  # shown for a deploy only (load)
        yield Static("", id="output-layer")
        with Horizontal(classes="row"):
            yield Label("new name")
            yield Input("", id="new-name", compact=True)
        yield Static("Layers (F on a row: freeze through it; U: unfreeze all)", classes="section")
        yield LayerTable(id="layers", cursor_type="row", zebra_stripes=True)
        yield Static("", id="freeze-report")
        yield DeviceBox(self.state, core.visible_gpus(self.state), id="device-box")
        yield Static("Batch size advisor (per GPU)", classes="section")
        with Horizontal(classes="row"):
            yield Label("GPU memory")
            yield Input("", placeholder="e.g. 8G or auto (empty: keep batch)", id="gpu-memory", compact=True)
        yield Static("", id="batch-advice")
        yield Static("Mean (preprocessing)", classes="section")
        yield TickBox("subtract the new data's mean instead of the pretrained net's", self.state.new_mean,
                      id="new-mean", disabled=not self.state.mean_file)
        yield Static("", id="mean-note")
        yield Static("What changed (diff of the copy against the source)", classes="section")
        yield Static("", id="diff", markup=False)

    def on_mount(self) -> None:
        self.query_one(LayerTable).add_columns(*COLUMNS)
        self.query_one(PreprocessingBox).display = self.state.net_kind == "deploy"
        if self.state.net_src:
            self.load()
        else:
            self.query_one("#net-src", Input).focus()

    def on_step_button(self, button_id: str) -> None:
        if button_id in ("pick-net", "pick-deploy"):
            from tunewiz.wizard.widgets.picker import FilePicker

            target = "#net-src" if button_id == "pick-net" else "#deploy-src"

            def picked(path: str | None) -> None:
                if path:
                    self.query_one(target, Input).value = path
                    self.load()

            self.app.push_screen(FilePicker("Choose a prototxt", self.query_one(target, Input).value), picked)
        elif button_id == "load":
            self.load()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id in ("net-src", "deploy-src"):
            self.load()
        elif event.input.id in ("new-name", "gpu-memory", "gpu-ids", "pre-mean-file", "pre-scale"):
            self.refresh_plan()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "pre-choice":
            box = self.query_one(PreprocessingBox)
            box.show_mean_row()
            if box.choice() != self.state.preprocessing:
                self.refresh_plan()
        elif event.select.id == "device" and self.query_one(DeviceBox).read() != (self.state.device, self.state.gpu_ids):
            self.refresh_plan()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "new-mean" and event.value != self.state.new_mean:
            self.state.new_mean = event.value
            self.refresh_plan()

    def load(self) -> None:
        st = self.state
        st.net_src = self.query_one("#net-src", Input).value.strip()
        st.deploy_src = self.query_one("#deploy-src", Input).value.strip()
        if not st.net_src:
            self.problem("no net yet: type or pick the source train_val.prototxt (or deploy.prototxt).")
            return
        try:
            self.source = core.load_net(st.net_src)
            self.deploy_source = core.load_net(st.deploy_src) if st.deploy_src else None
            st.net_kind = core.net_kind(self.source, st.net_src)
            found = core.find_output_layer(self.source)
        except TunewizError as exc:
            self.source = None
            self.fail(str(exc))
            return
        self.failure = ""
        box = self.query_one(PreprocessingBox)
        box.display = st.net_kind == "deploy"
        if st.output_layer and st.output_layer != found.name:
            st.new_name = ""
        st.output_layer = found.name
        name_input = self.query_one("#new-name", Input)
        if not name_input.value:
            name_input.value = st.new_name or f"{found.name}_{st.run_name}".replace("-", "_")
        self.query_one("#output-layer", Static).update(
            f"Output layer: [b]{found.name}[/b] ({found.description}); {found.reason}\n"
            f"New class count from step 2: [b]{st.num_classes or '? (no data yet)'}[/b]"
        )
        self.refresh_plan()
        if box.display and not st.preprocessing:  # the question to answer first
            self.query_one("#pre-choice", Select).focus()
        else:
            self.query_one(LayerTable).focus()

    def _mean_note(self, source_mean: str) -> None:
        st = self.state
        chosen = (f"Chosen: the new data's mean, {st.mean_file}." if st.new_mean else
                  f"Chosen: the pretrained net's preprocessing ({source_mean}).")
        missing = "" if st.mean_file else " (The new data's mean was not computed in step 2.)"
        self.query_one("#mean-note", Static).update(f"{MEAN_WHY}{missing}\n{chosen}")

    def on_freeze_through(self, msg: FreezeThrough) -> None:
        self.state.freeze_through = msg.layer
        self.refresh_plan()

    def refresh_plan(self) -> None:
        """The recipe's Net stage on the current choices (in a worker: shapes need the engine)."""
        if self.source is None:
            return
        st = self.state
        st.new_name = self.query_one("#new-name", Input).value.strip() or st.output_layer
        st.gpu_memory = self.query_one("#gpu-memory", Input).value.strip()
        st.device, st.gpu_ids = self.query_one(DeviceBox).read()
        if st.net_kind == "deploy":
            try:
                st.preprocessing, st.preprocessing_mean, st.scale = self.query_one(PreprocessingBox).read()
            except ValueError as exc:
                st.net_plan, self.pending = None, False
                self.fail(str(exc))
                return
        self._mean_note(core.source_mean(self.source, st))
        st.net_plan = None  # the old plan is not what these choices make
        self.generation += 1
        what = f"plan:{self.generation}"
        try:
            opts = core.net_options(st)
        except TunewizError as exc:
            self.pending = False
            self.fail(str(exc))
            return
        self.pending = True
        self.say("Applying the edits (shape inference)...")
        self.plan_work(what, opts)

    @work(thread=True, exclusive=True, group="plan")
    def plan_work(self, what: str, opts) -> None:
        """The recipe's Net stage on the choices; posts its view (or why it failed)."""
        try:
            self.post_message(WorkDone(what, core.net_view(opts)))
        except TunewizError as exc:
            self.post_message(WorkFailed(what, str(exc)))

    def on_work_done(self, msg: WorkDone) -> None:
        if msg.what != f"plan:{self.generation}":
            return
        self.pending, self.failure = False, ""
        st, view = self.state, msg.result
        st.net_plan = view.plan
        self._fill_table(view.rows)
        self.query_one("#freeze-report", Static).update("\n".join(view.notes))
        self.query_one("#batch-advice", Static).update(view.advice)
        self.query_one("#diff", Static).update(view.diff or "(no change)")
        frozen = f"; frozen through {st.freeze_through}" if st.freeze_through else ""
        self.say(f"Copy ready: {st.output_layer} -> {st.new_name} with {st.num_classes} outputs{frozen}.")

    def on_work_failed(self, msg: WorkFailed) -> None:
        if msg.what != f"plan:{self.generation}":
            return
        self.pending = False
        self.state.net_plan = None
        self.fail(msg.error)

    def _fill_table(self, rows: list[tuple]) -> None:
        table = self.query_one(LayerTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        cells = [[" "] + [str(c) for c in row] for row in rows]
        for i, label in enumerate(COLUMNS):  # explicit widths: the header lines up with the cells
            table.add_column(label, width=max([len(label)] + [len(r[i]) for r in cells]))
        for row in cells:
            table.add_row(*row)
        if 0 <= cursor < table.row_count:
            table.move_cursor(row=cursor)
        if table.row_count:
            table.update_cell_at((max(table.cursor_row, 0), 0), ">")

    def fail(self, text: str) -> None:
        """A problem that stays until the source or the choices change (the status line may be overwritten)."""
        self.failure = text
        self.problem(text)

    def validate(self) -> str | None:
        if self.source is None:
            if self.failure:  # the load's own error, not a generic line: it may have scrolled away
                return f"the net did not load: {self.failure}"
            return "no net loaded: type or pick the source train_val (or deploy) prototxt and press Load."
        if not self.state.num_classes:
            return "the class count is unknown: go back to Data (Esc) and convert your images."
        if self.state.net_kind == "deploy":
            problem = self._preprocessing_problem()
            if problem:
                return problem
        if self.pending:
            return "the edits are still being applied; try again in a moment."
        if self.state.net is None:
            return f"the copy could not be made: {self.failure or 'load the net again (Load)'}"
        return None

    def _preprocessing_problem(self) -> str | None:
        """A deploy's preprocessing not chosen yet, or typed but not applied (Enter not pressed)."""
        st = self.state
        try:
            shown = self.query_one(PreprocessingBox).read()
            if not st.new_mean:
                core.pretrained_preprocessing(st)
        except (ValueError, TunewizError) as exc:
            return str(exc)
        if shown != (st.preprocessing, st.preprocessing_mean, st.scale):
            self.refresh_plan()
            return "applying the preprocessing as typed; press Ctrl+N again when the copy is ready."
        return None
