"""Messages the wizard's workers post to the UI (workers never touch widgets)."""
from __future__ import annotations

from textual.message import Message


class Converting(Message):
    """The conversion's progress: the schema's one :class:`~tunewiz.runs.events.Progress`."""

    def __init__(self, progress) -> None:
        super().__init__()
        self.progress = progress


class ConvertEnded(Message):
    """The conversion's outcome (a :class:`~tunewiz.runs.events.Converted` or
    :class:`~tunewiz.runs.events.ConvertFailed`), already taken in from the run folder."""

    def __init__(self, outcome) -> None:
        super().__init__()
        self.outcome = outcome


class FreezeThrough(Message):
    """The layer table asks to freeze every learnable layer through ``layer`` ("" unfreezes all)."""

    def __init__(self, layer: str) -> None:
        super().__init__()
        self.layer = layer


class WorkFailed(Message):
    """A worker stopped with a user-facing error; ``details``: lines that explain it (a conversion's
    skipped images), shown beside the one-line error."""

    def __init__(self, what: str, error: str, details: list[str] | None = None) -> None:
        super().__init__()
        self.what, self.error, self.details = what, error, list(details or [])


class WorkDone(Message):
    """A worker finished; ``result`` is whatever it computed."""

    def __init__(self, what: str, result) -> None:
        super().__init__()
        self.what, self.result = what, result


class RunUpdate(Message):
    """The follower's view of a training: an immutable snapshot of its history, the log's last lines,
    whether it runs, the plots drawn as text (None: unchanged) and the GPU memory it uses (None: unknown)."""

    def __init__(self, snapshot, log_lines: tuple, running: bool, plots: tuple | None = None,
                 gpu_memory: str | None = None) -> None:
        super().__init__()
        self.snapshot, self.log_lines, self.running = snapshot, tuple(log_lines), running
        self.plots, self.gpu_memory = plots, gpu_memory


class Scoring(Message):
    """The Done screen's scoring pass: a :class:`~tunewiz.infer.evaluate.BatchScored` (progress) or the
    finished :class:`~tunewiz.wizard.core_score.RunScore` (both immutable)."""

    def __init__(self, event) -> None:
        super().__init__()
        self.event = event
