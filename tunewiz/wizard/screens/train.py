"""Step 6, Train: the progress panel following ``<run dir>/events.jsonl`` of a detached trainer.

A ``@work(thread=True)`` worker owns the follower and its :class:`~tunewiz.runs.follow.RunHistory`; it
posts :class:`~tunewiz.wizard.messages.RunUpdate` messages carrying immutable snapshots, and the screen
only paints the latest one (``self.history``).
"""
from __future__ import annotations

import time
from pathlib import Path

from textual import work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static
from textual.worker import get_current_worker

from tunewiz.errors import TunewizError
from tunewiz.runs import launch, layout
from tunewiz.runs.follow import EventFollower, RunHistory, RunSnapshot, tail_lines
from tunewiz.wizard.core_run import resume_run
from tunewiz.wizard.messages import RunUpdate, WorkFailed
from tunewiz.wizard.screens.base import StepScreen

POLL_S = 0.25
PLOT_EVERY_S = 1.0


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA --"
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"ETA {h}:{m:02d}:{s:02d}" if h else f"ETA {m}:{s:02d}"


def _before_first_event(running: bool) -> str:
    """The progress line of a run with no event yet (attached right after its trainer started, or it ended)."""
    if running:
        return "waiting for the trainer's first event (it builds the net and opens the data first)"
    return "no event: the trainer ended before its first one (its last output is below, if any)"


class TrainScreen(StepScreen):
    KEY = "train"
    BINDINGS = [
        Binding("s", "snapshot", "Snapshot now"),
        Binding("x", "stop", "Stop (snapshot first)"),
        Binding("r", "resume", "Resume"),
    ]

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.history = RunSnapshot()  # the latest snapshot the follower posted
        self.running = False
        self.gpu_memory: str | None = None
        self._shown: dict[str, str] = {}  # selector -> text on screen

    def next_label(self) -> str:
        return "Results > (Ctrl+N)"

    def compose_body(self):
        from tunewiz.wizard.widgets.plots import RenderedPlot

        yield Static(f"Run folder: {self.run_dir}", id="run-folder")
        yield Static("waiting for the trainer...", id="progress-line")
        yield ProgressBar(total=100, show_eta=False, id="iter-bar")
        yield Static("", id="stats")
        with Horizontal(id="train-plots"):
            yield RenderedPlot("", id="loss-plot")
            yield RenderedPlot("", id="acc-plot")
        yield Static("", id="loglines")

    def on_mount(self) -> None:
        self.running = launch.is_running(self.run_dir)
        self._plots = (self.query_one("#loss-plot"), self.query_one("#acc-plot"))
        self._follower = self.follow()

    def on_unmount(self) -> None:
        self._follower.cancel()  # sets the worker's cancelled_event: the loop below ends at once

    @work(thread=True, exclusive=True, group="follow")
    def follow(self) -> None:
        """Read new events, fold them into this thread's own history, draw the plots; post snapshots.

        The UI thread only paints what this thread prepared, so keys stay responsive while a fast
        trainer writes hundreds of events a second.
        """
        cancelled = get_current_worker().cancelled_event
        follower, history = EventFollower(self.run_dir), RunHistory()
        first, posted_running, last_plot, sizes, last_gpu = True, None, 0.0, None, 0.0
        stale, told, refused, gpu = False, None, 0, None  # stale: events came that the plots do not show yet
        while not cancelled.is_set():
            events = follower.poll()
            for stamped in events:
                history.apply(stamped)
            snap = history.snapshot() if events or first else snap
            stale = stale or bool(events)
            running = launch.is_running(self.run_dir)
            told = self._tell_launch_failure(told)
            if len(follower.refused) > refused:  # another schema version or kind: said once per line
                refused = len(follower.refused)
                self.post_message(WorkFailed("follow", follower.refused[-1]))
            if not running:
                gpu = None
            elif snap.device.startswith("cuda") and time.monotonic() - last_gpu > 5:
                gpu, last_gpu = launch.gpu_memory(launch.trainer_pid(self.run_dir)), time.monotonic()
            now_sizes = tuple(p.draw_size() for p in self._plots)
            due = time.monotonic() - last_plot > PLOT_EVERY_S or not running
            replot = self.plots_visible() and ((stale and due) or now_sizes != sizes or (first and bool(snap.iters)))
            if events or first or running != posted_running or replot:
                plots = self._draw_plots(snap, now_sizes) if replot else None
                if replot:
                    last_plot, sizes, stale = time.monotonic(), now_sizes, False
                self.post_message(RunUpdate(snap, tuple(tail_lines(self._log_file(), 6)), running, plots, gpu))
                first, posted_running = False, running
            cancelled.wait(POLL_S)

    def _tell_launch_failure(self, told):
        """Post why the trainer launched here ended before its first event (once per launch)."""
        pid = launch.launched_pid(self.run_dir)
        if pid is not None and pid != told and not launch.pid_alive(pid):
            told, failure = pid, launch.launch_failure(self.run_dir)
            if failure:  # refused or failed before its first event: its own words, not a silent wait
                self.post_message(WorkFailed("launch", failure))
        return told

    def _log_file(self) -> Path:
        log = self.run_dir / layout.TRAIN_LOG
        return log if log.exists() else self.run_dir / layout.CONSOLE  # not started: what it printed

    def plots_visible(self) -> bool:
        """Plots are drawn only while this screen is the one shown (not under Done, a picker or a dialog)."""
        from textual.screen import ModalScreen

        try:
            stack = list(self.app.screen_stack)
        except Exception:  # the app is closing
            return False
        if self not in stack:
            return False
        return all(isinstance(s, ModalScreen) for s in stack[stack.index(self) + 1:])

    def _draw_plots(self, h: RunSnapshot, sizes) -> tuple:
        from tunewiz.wizard.widgets.plots import draw_lines

        iters, loss, smoothed = list(h.iters), list(h.loss), list(h.smoothed)
        n = min(len(iters), len(loss), len(smoothed))
        loss_plot = draw_lines([("loss (raw, dots)", iters[:n], loss[:n], "dot"),
                                ("smoothed (+)", iters[:n], smoothed[:n], "+")], "loss", *sizes[0])
        m = min(len(h.test_iters), len(h.accuracy))
        acc_plot = draw_lines([("test accuracy", list(h.test_iters[:m]), list(h.accuracy[:m]), "braille")],
                              "test accuracy", *sizes[1])
        return loss_plot, acc_plot

    def on_run_update(self, msg: RunUpdate) -> None:
        self.history, self.running, self.gpu_memory = msg.snapshot, msg.running, msg.gpu_memory
        self._draw_numbers(msg.log_lines)
        if msg.plots:
            for widget, drawn in zip(self._plots, msg.plots):
                widget.update(drawn)

    def on_work_failed(self, msg: WorkFailed) -> None:
        self.problem(msg.error)

    def _draw_numbers(self, log_lines: list[str]) -> None:
        h = self.history
        total = h.max_iter or 0
        state = "RUNNING" if self.running else ("FINISHED" if h.state == "finished" else
                                                 "STOPPED" if h.state == "stopped" else "NOT RUNNING")
        pct = f"{100 * h.iteration / total:.0f}%" if total else ""
        where = f"iteration {h.iteration}/{total or '?'} {pct}" + (f"  {_eta(h.eta_seconds())}" if self.running else "")
        if h.state == "waiting":
            where = _before_first_event(self.running)
        self._show("#progress-line", f"[b]{state}[/b]  {where}")
        bar = self.query_one("#iter-bar", ProgressBar)
        bar.update(total=max(total, 1), progress=h.iteration)
        loss = f"{h.loss[-1]:.4f} (smoothed {h.smoothed[-1]:.4f})" if h.loss else "--"
        acc = ", ".join(f"{k} {v:.4f}" for k, v in h.last_test if isinstance(v, (int, float))) or "--"
        lr = f"{h.lr:g}" if h.lr is not None else "--"
        ips = f"{h.images_per_s:.0f}" if h.images_per_s else "--"
        reason = f"  stopped: {h.reason}" if h.reason else ""
        self._show("#stats",
            f"loss {loss}  lr {lr}  images/s {ips}  device {h.device or '--'}"
            + (f" ({self.gpu_memory} used)" if self.gpu_memory else "") + "\n"
            f"test: {acc}  snapshots: {h.snapshot_count}{reason}")
        if log_lines:
            self._show("#loglines", "\n".join(line[-200:] for line in log_lines))

    def _show(self, selector: str, text: str) -> None:
        """Update a Static only when its text changed (each update costs a relayout of the panel)."""
        if self._shown.get(selector) != text:
            self._shown[selector] = text
            self.query_one(selector, Static).update(text)

    def action_snapshot(self) -> None:
        try:
            launch.request_snapshot(self.run_dir)
        except TunewizError as exc:
            self.problem(str(exc))
            return
        self.say("Snapshot requested (SIGHUP); it is written after the current iteration.")

    def action_stop(self) -> None:
        if not launch.is_running(self.run_dir):
            self.problem("this training is not running.")
            return
        from tunewiz.wizard.screens.confirm import Confirm

        def answer(choice: str | None) -> None:
            if choice == "stop":
                try:
                    launch.request_stop(self.run_dir)
                except TunewizError as exc:
                    self.problem(str(exc))
                    return
                self.say("Stop requested (SIGINT): the trainer snapshots, then stops.")

        self.app.push_screen(Confirm("Stop this training? It writes a snapshot first; you can resume from it.",
                                     [("stop", "Yes, stop it"), ("keep", "No, keep training")]), answer)

    def action_resume(self) -> None:
        """Resume a stopped run from its last snapshot, with the unchanged solver (Caffe's --snapshot)."""
        if launch.is_running(self.run_dir):  # its own trainer, or one started from the command line
            pid = launch.trainer_pid(self.run_dir)
            self.problem(f"this run folder's trainer is running (pid {pid}): a second one is never started "
                         "beside it. Wait for it to end, or stop it (X) and resume then.")
            return
        states = [p for p in self.history.snapshots if p.endswith(".solverstate")]
        try:
            resume_run(self.run_dir, states[-1] if states else None)
        except TunewizError as exc:
            self.problem(str(exc))
            return
        self.running = True
        self.say(f"Resuming from {Path(states[-1]).name} with the same solver.")

    def validate(self) -> str | None:
        if self.running:
            return "training is still running; wait for it to finish or press X to stop it."
        return None
