"""Step 6, Train: the progress panel following ``<run dir>/events.jsonl`` of a detached trainer."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from tunewiz.errors import TunewizError
from tunewiz.wizard import launch
from tunewiz.wizard.follow import LOG_FILE, EventFollower, RunHistory, tail_lines
from tunewiz.wizard.messages import TrainEvents, WorkFailed
from tunewiz.wizard.screens.base import StepScreen

POLL_S = 0.25
PLOT_EVERY_S = 1.0


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA --"
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"ETA {h}:{m:02d}:{s:02d}" if h else f"ETA {m}:{s:02d}"


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
        self.history = RunHistory()
        self.running = False
        self._quit = threading.Event()
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
        self.run_worker(self._follow, thread=True, exclusive=True, group="follow")

    def on_unmount(self) -> None:
        self._quit.set()

    def _follow(self) -> None:
        """Thread: read new events, fold them into the history, draw the plots; post the results.

        The UI thread only paints what this thread prepared, so keys stay responsive while
        a fast trainer writes hundreds of events a second.
        """
        follower = EventFollower(self.run_dir)
        first, posted_running, last_plot, sizes, last_gpu = True, None, 0.0, None, 0.0
        stale = False  # events came that the plots do not show yet
        told = None  # the launched trainer whose outcome was looked at (a resume launches another)
        while not self._quit.is_set():
            events = follower.poll()
            for event in events:
                self.history.apply(event)
            stale = stale or bool(events)
            running = launch.is_running(self.run_dir)
            pid = launch.launched_pid(self.run_dir)
            if pid is not None and pid != told and not launch.pid_alive(pid):
                told, failure = pid, launch.launch_failure(self.run_dir)
                if failure:  # refused or failed before its first event: its own words, not a silent wait
                    self.post_message(WorkFailed("launch", failure))
            if running and self.history.device.startswith("cuda") and time.monotonic() - last_gpu > 5:
                self.gpu_memory, last_gpu = launch.gpu_memory(launch.trainer_pid(self.run_dir)), time.monotonic()
            now_sizes = tuple(p.draw_size() for p in self._plots)
            due = time.monotonic() - last_plot > PLOT_EVERY_S or not running
            replot = self.plots_visible() and ((stale and due) or now_sizes != sizes
                                               or (first and bool(self.history.iters)))
            if events or first or running != posted_running or replot:
                plots = self._draw_plots(now_sizes) if replot else None
                if replot:
                    last_plot, sizes, stale = time.monotonic(), now_sizes, False
                log = self.run_dir / LOG_FILE
                if not log.exists():  # the trainer could not start: show what it printed
                    log = self.run_dir / launch.CONSOLE_FILE
                self.post_message(TrainEvents(tail_lines(log, 6), running, plots))
                first, posted_running = False, running
            self._quit.wait(POLL_S)

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

    def _draw_plots(self, sizes) -> tuple:
        from tunewiz.wizard.widgets.plots import draw_lines

        h = self.history
        iters, loss, smoothed = list(h.iters), list(h.loss), list(h.smoothed)
        n = min(len(iters), len(loss), len(smoothed))
        loss_plot = draw_lines([("loss (raw, dots)", iters[:n], loss[:n], "dot"),
                                ("smoothed (+)", iters[:n], smoothed[:n], "+")], "loss", *sizes[0])
        m = min(len(h.test_iters), len(h.accuracy))
        acc_plot = draw_lines([("test accuracy", list(h.test_iters[:m]), list(h.accuracy[:m]), "braille")],
                              "test accuracy", *sizes[1])
        return loss_plot, acc_plot

    def on_train_events(self, msg: TrainEvents) -> None:
        self.running = msg.running
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
        self._show("#progress-line", f"[b]{state}[/b]  iteration {h.iteration}/{total or '?'} {pct}"
                   + (f"  {_eta(h.eta_seconds())}" if self.running else ""))
        bar = self.query_one("#iter-bar", ProgressBar)
        bar.update(total=max(total, 1), progress=h.iteration)
        loss = f"{h.loss[-1]:.4f} (smoothed {h.smoothed[-1]:.4f})" if h.loss else "--"
        acc = ", ".join(f"{k} {v:.4f}" for k, v in h.last_test.items()) or "--"
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
        solver = self.run_dir / "solver.prototxt"
        if not states or not solver.is_file():
            self.problem("nothing to resume: this run folder has no .solverstate snapshot and solver.prototxt.")
            return
        try:
            launch.start_training(self.run_dir, solver, snapshot=states[-1],
                                  numerics=launch.run_numerics(self.run_dir))
        except TunewizError as exc:
            self.problem(str(exc))
            return
        self.running = True
        self.say(f"Resuming from {Path(states[-1]).name} with the same solver.")

    def validate(self) -> str | None:
        if self.running:
            return "training is still running; wait for it to finish or press X to stop it."
        return None
