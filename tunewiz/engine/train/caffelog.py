"""Log lines in Caffe's own glog format, so tools that parse Caffe logs keep working.

Each line: ``I1127 19:00:00.123456 12345 solver.cpp:218] message`` — severity letter, month and
day (no year: Caffe's ``tools/extra/parse_log.py`` reads ``line[0][1:3]`` as the month and the rest as
the day), local time with microseconds, thread id, source ``file:line``.  A message with several
lines (a prototxt print) gets the prefix on every line, so no bare line ever reaches the log:
``parse_log.py`` crashes on a blank or prefix-less line after the first "Iteration" line.

The source locations are Caffe 1.0's (``solver.cpp:239`` for the iteration line ...), so a log
reads as Caffe's.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import sys
import threading
import warnings
from typing import TextIO

#: Caffe 1.0's source location for each kind of line
SRC = {
    "use_cpu": "caffe.cpp:197",
    "use_gpu": "caffe.cpp:218",
    "init_solver": "solver.cpp:45",
    "train_net": "solver.cpp:102",
    "test_net": "solver.cpp:190",
    "finetune": "solver.cpp:72",
    "ignore_layer": "net.cpp:746",
    "copy_mismatch": "net.cpp:759",
    "scaffolding": "solver.cpp:57",
    "resuming": "caffe.cpp:235",
    "restoring": "sgd_solver.cpp:336",
    "start_opt": "caffe.cpp:239",
    "solving": "solver.cpp:289",
    "lr_policy": "solver.cpp:290",
    "testing": "solver.cpp:347",
    "test_output": "solver.cpp:414",
    "test_loss": "solver.cpp:409",
    "iteration": "solver.cpp:239",
    "train_output": "solver.cpp:258",
    "lr": "sgd_solver.cpp:112",
    "clip": "sgd_solver.cpp:99",
    "multistep": "sgd_solver.cpp:50",
    "snapshot_model": "solver.cpp:464",
    "snapshot_state": "sgd_solver.cpp:284",
    "final_loss": "solver.cpp:327",
    "stopped_early": "solver.cpp:318",
    "test_interrupted": "solver.cpp:395",
    "done": "solver.cpp:332",
    "done_cli": "caffe.cpp:250",
    "tunewiz": "trainer.py:1",
}


def prefix(severity: str = "I", src: str = "solver.cpp:1", now: datetime.datetime | None = None,
           tid: int | None = None) -> str:
    """glog's classic prefix: ``I1127 19:00:00.123456 12345 solver.cpp:218] ``."""
    now = now or datetime.datetime.now()
    tid = os.getpid() if tid is None else tid
    return f"{severity}{now:%m%d %H:%M:%S}.{now.microsecond:06d} {tid:5d} {src}] "


class CaffeLog:
    """Writes Caffe-format lines to a file (``train.log``) and optionally to a stream (stderr)."""

    def __init__(self, path: str | os.PathLike | None = None, stream: TextIO | None | str = "stderr") -> None:
        self._file = open(path, "a", encoding="utf-8") if path else None
        self._stream = stream  # "stderr": whatever sys.stderr is when a line is written
        self._lock = threading.Lock()
        self.lines: list[str] = []  # kept for callers that want to inspect what was said
        self.keep = False

    def log(self, key: str, message: str, severity: str = "I") -> None:
        """One message (several lines allowed) at Caffe's source location ``SRC[key]`` (or a raw ``file:line``)."""
        src = SRC.get(key, key)
        parts = str(message).rstrip("\r\n").splitlines() or [""]  # \r too: Python readers split lines on it
        text = "".join(prefix(severity, src) + part + "\n" for part in parts)
        with self._lock:
            if self.keep:
                self.lines.extend(text.splitlines())
            stream = sys.stderr if self._stream == "stderr" else self._stream
            for out in (self._file, stream):
                if out is not None:
                    out.write(text)
                    out.flush()

    def info(self, key: str, message: str) -> None:
        self.log(key, message, "I")

    def warning(self, key: str, message: str) -> None:
        self.log(key, message, "W")

    def error(self, key: str, message: str) -> None:
        self.log(key, message, "E")

    def exception(self, key: str, exc: BaseException) -> None:
        """An unexpected fault: its traceback as ``F`` lines (glog's FATAL), each with the prefix."""
        import traceback

        self.log(key, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)), "F")

    @contextlib.contextmanager
    def warnings_as_lines(self):
        """Python warnings raised inside the block become ``W`` lines here instead of bare stderr text."""
        def show(message, category, filename, lineno, file=None, line=None):
            self.warning(f"{os.path.basename(filename)}:{lineno}", f"{category.__name__}: {message}")

        with warnings.catch_warnings():
            warnings.showwarning = show
            yield

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
