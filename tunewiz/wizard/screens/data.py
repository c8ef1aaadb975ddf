"""Step 2, Data: class folders -> histogram and sizes -> train/val databases and the mean.

The conversion runs as its own process (it goes on when the wizard's terminal closes); a
``@work(thread=True)`` worker follows its events and posts them, and a Data step opened again on that run
folder follows it on.
"""
from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, ProgressBar, Select, Static
from textual.worker import get_current_worker

from tunewiz.wizard.widgets.toggles import TickBox as Checkbox

from tunewiz.data.conversion import ConvertOptions
from tunewiz.errors import TunewizError
from tunewiz.runs import layout
from tunewiz.runs.events import Converted
from tunewiz.wizard import core_data as core
from tunewiz.wizard.messages import ConvertEnded, Converting
from tunewiz.wizard.screens.base import StepScreen


SHOWN_WARNINGS = 4  # of the skipped images, beside a failed conversion (80x24: the rest is counted)


class ResultBox(Static):
    """The conversion's result; :meth:`reveal` scrolls it into view once it is laid out with its new text
    (scrolled at once, it would be placed by its old, one-line size, below the fold)."""

    _reveal = False

    def reveal(self) -> None:
        self._reveal = True
        self.call_after_refresh(self.scroll_visible, animate=False)  # its size may not change at all

    def on_resize(self) -> None:
        if self._reveal:
            self._reveal = False
            self.scroll_visible(animate=False)


class DataScreen(StepScreen):
    KEY = "data"

    def __init__(self) -> None:
        super().__init__()
        self.scan: core.FolderScan | None = None
        self.converting = False

    def compose_body(self):
        from tunewiz.wizard.widgets.plots import BarPlot

        yield Static("Your images: a folder with one sub-folder per class (its name is the class), or a "
                     "Caffe list file ('path label' lines) with its root folder and a validation list.")
        with Horizontal(classes="row"):
            yield Input(self.state.image_root, placeholder="folder with class folders", id="images", compact=True)
            yield Button("Pick", id="pick", compact=True)
            yield Button("Scan", id="scan", compact=True)
        with Horizontal(classes="row", id="list-row"):  # shown when the path above is a list file
            yield Label("root")
            yield Input("", placeholder="folder the list's paths start in", id="list-root", compact=True)
            yield Label(" val list")
            yield Input("", placeholder="validation list file", id="val-list", compact=True)
        with Horizontal(classes="row"):
            yield Label("resize WxH")
            yield Input(str(self.state.resize[0]), id="resize-w", classes="opt", type="integer", compact=True)
            yield Input(str(self.state.resize[1]), id="resize-h", classes="opt", type="integer", compact=True)
            yield Label("val")
            yield Input("0.2", id="val-fraction", classes="opt", type="number", compact=True)
        with Horizontal(classes="row"):
            yield Checkbox("gray", id="gray", compact=True)
            yield Checkbox("encoded", id="encoded", compact=True)
            yield Select([("lmdb", "lmdb"), ("leveldb", "leveldb")], value="lmdb", allow_blank=False,
                         id="backend", compact=True)
        yield Static("", id="scan-summary")
        yield BarPlot(id="histogram", classes="plot")
        with Horizontal(classes="row"):
            yield Button("Convert", id="convert", variant="success", compact=True)
            yield Button("Cancel", id="cancel", compact=True, disabled=True)
        yield ProgressBar(total=100, id="convert-progress", show_eta=True)
        yield ResultBox("", id="convert-result")

    def on_mount(self) -> None:
        self.query_one("#histogram").display = False
        self.query_one("#list-row").display = False
        self.query_one("#images", Input).focus()
        if self.state.train_db:
            self.query_one("#convert-result", Static).update(self._done_text())
        if core.pending(self.state.run_dir):  # started earlier, maybe by a wizard that is gone: followed on
            self.state.image_root = self.state.image_root or core.convert_root(self.state.run_dir)
            self.query_one("#images", Input).value = self.state.image_root
            self._following()
            self.say("Converting (started earlier; it does not need this window)... (Cancel stops)")
        if self.state.image_root:
            self.do_scan()

    def on_step_button(self, button_id: str) -> None:
        if button_id == "pick":
            from tunewiz.wizard.widgets.picker import FilePicker

            self.app.push_screen(FilePicker("Choose the image folder", self._images(), folders=True), self._picked)
        elif button_id == "scan":
            self.do_scan()
        elif button_id == "convert":
            self.do_convert()
        elif button_id == "cancel":
            core.cancel_convert(self.state.run_dir)

    def _picked(self, path: str | None) -> None:
        if path:
            self.query_one("#images", Input).value = path
            self.do_scan()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "images":
            self.do_scan()

    def _images(self) -> str:
        return self.query_one("#images", Input).value.strip()

    # ------------------------------------------------------------ scan
    def do_scan(self) -> bool:
        path = self._images()
        if not path:
            self.problem("no data yet: type or pick the folder that holds one sub-folder per class.")
            return False
        try:
            if Path(path).expanduser().is_file():
                scan = self._scan_list(Path(path).expanduser())
            else:
                self.query_one("#list-row").display = False
                scan = core.scan_folder(path)
            self.scan = scan
            self._show_scan(scan)
        except TunewizError as exc:
            self.scan = None
            self.query_one("#scan-summary", Static).update("")
            self.query_one("#histogram").display = False
            self.problem(str(exc))
            return False
        self.state.image_root = str(scan.root)
        self.say(f"{len(scan.classes)} classes, {scan.total} images. Enter on Convert writes the databases.")
        if not self.state.train_db:
            self.query_one("#convert", Button).focus()
        return True

    def _scan_list(self, list_file: Path) -> core.FolderScan:
        self.query_one("#list-row").display = True
        root_input, val_input = self.query_one("#list-root", Input), self.query_one("#val-list", Input)
        if not root_input.value.strip():
            root_input.value = str(core.default_root(list_file))
        if not val_input.value.strip() and (list_file.parent / "val.txt").is_file() and list_file.name != "val.txt":
            val_input.value = str(list_file.parent / "val.txt")
        if not val_input.value.strip() or not Path(val_input.value.strip()).is_file():
            raise TunewizError("a list file needs a validation list too: give it under 'val list'.")
        return core.scan_list(list_file, root_input.value.strip())

    def _show_scan(self, scan: core.FolderScan) -> None:
        lines = [f"[b]{len(scan.classes)} classes, {scan.total} images[/b]; sizes: {scan.size_summary()}"]
        if scan.all_gray and not self.query_one("#gray", Checkbox).value:
            self.query_one("#gray", Checkbox).value = True
            lines.append("The images are grey (one channel), so 'gray' is ticked.")
        lines.append("  ".join(f"{name}: {n}" for name, n in scan.classes))
        self.query_one("#scan-summary", Static).update("\n".join(lines))
        plot = self.query_one("#histogram")
        plot.display = bool(scan.classes)
        if scan.classes:
            plot.show_bars([n for n, _ in scan.classes], [c for _, c in scan.classes], "images per class")

    # ------------------------------------------------------------ convert
    def _options(self) -> ConvertOptions:
        def num(widget_id, cast, default):
            try:
                return cast(self.query_one(widget_id, Input).value or default)
            except ValueError:
                raise TunewizError(f"{widget_id[1:]} must be a number.") from None

        return ConvertOptions(
            resize_width=num("#resize-w", int, 0), resize_height=num("#resize-h", int, 0),
            val_fraction=num("#val-fraction", float, 0.2),
            gray=self.query_one("#gray", Checkbox).value, encoded=self.query_one("#encoded", Checkbox).value,
            backend=str(self.query_one("#backend", Select).value),
        )

    def do_convert(self, replace: bool = False) -> None:
        if self.converting or not self.do_scan():
            return
        try:
            options = self._options()
        except TunewizError as exc:
            self.problem(str(exc))
            return
        out_dir = layout.data_dir(self.state.run_dir)
        if out_dir.exists() and any(out_dir.iterdir()):
            if not replace:
                self._ask_replace(out_dir)
                return
            import shutil

            shutil.rmtree(out_dir)  # the wizard's own databases in this run folder, replaced as asked
            self.state.train_db = self.state.val_db = self.state.mean_file = ""
        total = self.scan.total if self.scan else 0
        lists = None
        if Path(self._images()).expanduser().is_file():  # list mode: both lists, under the given root
            lists = (Path(self._images()).expanduser(), self.query_one("#val-list", Input).value.strip())
        try:
            core.start_convert(self.state.run_dir, self.state.image_root, options, total, lists)
        except OSError as exc:
            self.problem(f"cannot start the conversion in {out_dir} ({exc.strerror or exc}).")
            return
        self._following()
        self.say("Converting... (Cancel stops; it goes on if this window closes)")

    def _following(self) -> None:
        self.converting = True
        self.query_one("#cancel", Button).disabled = False
        self.follow_conversion(self.state.run_dir)

    def _ask_replace(self, out_dir: Path) -> None:
        from tunewiz.wizard.screens.confirm import Confirm

        def answer(choice: str | None) -> None:
            if choice == "replace":
                self.do_convert(replace=True)

        self.app.push_screen(Confirm(f"{out_dir} already holds databases of this run. Convert again?",
                                     [("replace", "Yes, replace them"), ("keep", "No, keep them")]), answer)

    @work(thread=True, exclusive=True, group="convert")
    def follow_conversion(self, run_dir: Path) -> None:
        """Post the conversion's progress, then its outcome (taken in: a failed one leaves nothing).
        Cancelling this worker (the screen closes) only stops following: the conversion goes on."""
        cancelled = get_current_worker().cancelled_event
        events = core.follow_convert(run_dir, cancelled)
        while True:
            try:
                self.post_message(Converting(next(events)))
            except StopIteration as end:
                outcome = end.value
                break
        if outcome is not None:
            core.take_outcome(run_dir, outcome)
            self.post_message(ConvertEnded(outcome))

    def on_converting(self, msg: Converting) -> None:
        p = msg.progress
        bar = self.query_one("#convert-progress", ProgressBar)
        bar.update(total=max(p.total, 1), progress=p.done)
        self.say(f"Converting: {p.done}/{p.total} images, {p.skipped} skipped, {p.rate:.0f} images/s")

    def on_convert_ended(self, msg: ConvertEnded) -> None:
        self.converting = False
        self.query_one("#cancel", Button).disabled = True
        if isinstance(msg.outcome, Converted):
            self._converted(msg.outcome)
        else:
            self._failed(msg.outcome.error, msg.outcome.details)

    def _converted(self, done: Converted) -> None:
        st = self.state
        st.train_db, st.val_db, st.mean_file, st.skipped = done.train_db, done.val_db, done.mean_file, done.skipped
        st.val_count = done.val_count
        st.classes = [name for name, _ in self.scan.classes] if self.scan else st.classes
        st.backend = Path(done.train_db).name.removeprefix("train_")
        self.query_one("#convert-result", Static).update(self._done_text(done.summary))
        self.say("Data ready. Next (Ctrl+N) sets up the net.")
        self.query_one("#next", Button).focus()

    def _done_text(self, summary: str = "") -> str:
        st = self.state
        return (f"[b]Done.[/b] {summary}\ntrain: {st.train_db}\nval: {st.val_db}\nmean: {st.mean_file}"
                f"\nskipped: {st.skipped}")

    def _failed(self, error: str, details: list) -> None:
        self.problem(error)
        result = self.query_one("#convert-result", ResultBox)
        if details:
            shown = details[:SHOWN_WARNINGS]
            more = len(details) - len(shown)
            result.update(Text("\n".join([f"Not converted; {len(details)} image(s) skipped:"]
                                          + [f"  {line}" for line in shown]
                                          + ([f"  (+{more} more)"] if more else []))))  # paths, not markup
            result.reveal()
        else:
            result.update("")

    def validate(self) -> str | None:
        if self.converting:
            return "the conversion is still running; wait for it or press Cancel."
        if not self.state.train_db:
            if not self._images():
                return "no data yet: pick the image folder, then press Convert."
            return "the images are not converted yet: press Convert (Tab to it, then Enter)."
        return None
