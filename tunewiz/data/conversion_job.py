"""The wizard's conversion as its own process: ``python -m tunewiz.data.conversion_job <data folder>``.

It reads what to convert from ``<data folder>/convert.json`` (written by the wizard before it starts this
process in a session of its own, :mod:`tunewiz.runs.conversion`), converts, computes the mean and writes
its typed events (:class:`~tunewiz.runs.events.Progress`, then :class:`~tunewiz.runs.events.Converted` or
:class:`~tunewiz.runs.events.ConvertFailed`) to ``convert.jsonl``, so it outlives the wizard's terminal
and any wizard can follow it.  SIGTERM or SIGINT stop it; a stopped conversion leaves no databases.
"""
from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

from tunewiz.errors import TunewizError
from tunewiz.runs import layout
from tunewiz.runs.events import Converted, ConvertFailed, EventWriter, Progress

PROGRESS_EVERY_S = 0.1  # a progress line at most this often (a fast conversion yields one per image)
CANCELLED = "conversion cancelled; nothing was kept."


def run_job(data_dir: Path, stop: threading.Event):
    """Yield the conversion's events for the job in ``data_dir``; the last one is Converted or ConvertFailed."""
    # imported here, after main() has put the signal handlers in place: the imports (OpenCV, numpy, the
    # databases) take a while, and a cancel that arrives meanwhile must stop the job, not kill it unheard
    from tunewiz.data.conversion import ConversionFailed, ConvertOptions, compute_mean, convert_folder, convert_lists

    if stop.is_set():
        yield ConvertFailed(CANCELLED, cancelled=True)
        return
    try:
        job = json.loads((data_dir / layout.CONVERT_JOB).read_text())
        options = ConvertOptions(**job["options"])
        if job.get("lists"):
            train_list, val_list = job["lists"]
            work = convert_lists(train_list, val_list, job["root"], data_dir, options, stop, job.get("total", 0))
        else:
            work = convert_folder(job["root"], data_dir, options, stop, job.get("total", 0))
        result = yield from work
    except ConversionFailed as exc:
        yield ConvertFailed(str(exc), exc.warnings)
        return
    except (TunewizError, OSError, ValueError, KeyError, TypeError) as exc:  # the job file itself
        yield ConvertFailed(f"{data_dir / layout.CONVERT_JOB}: {exc}")
        return
    if stop.is_set():
        yield ConvertFailed(CANCELLED, cancelled=True)
        return
    mean_file, summary = data_dir / layout.MEAN, result.summary
    try:
        compute_mean(result.train_db, mean_file, backend=options.backend)
    except TunewizError as exc:  # the mean is optional (LeNet scales instead)
        mean_file, summary = "", f"{summary}\nmean not computed: {exc}"
    yield Converted(summary, str(result.train_db), str(result.val_db), str(mean_file), result.skipped,
                    result.val_count)


def main(argv: list[str]) -> int:
    """Run the job in ``argv[0]`` (a data folder), writing its events; 0 when it converted."""
    data_dir = Path(argv[0])
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    writer, last, held, event = EventWriter(data_dir / layout.CONVERT_EVENTS), 0.0, None, None
    try:
        for event in run_job(data_dir, stop):
            if isinstance(event, Progress) and time.monotonic() - last < PROGRESS_EVERY_S:
                held = event  # written with the next one that is due, or before the outcome
                continue
            if held is not None and not isinstance(event, Progress):
                writer.write(held)
            writer.write(event)
            last, held = time.monotonic(), None
    except BaseException as exc:  # a fault of ours: said in the events, its traceback in convert.log
        writer.write(ConvertFailed(f"the conversion failed: {type(exc).__name__}: {exc}"))
        raise
    finally:
        writer.close()
    return 0 if isinstance(event, Converted) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
