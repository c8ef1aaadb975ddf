"""Time from launch to the wizard's first screen (goal: < 0.5 s), on a real pseudo-terminal.

Each run starts ``python -m tunewiz`` (what the ``tunewiz`` script runs) on an 80x24 pty and
notes the wall time when the Welcome screen has been painted (the app writes it to the file
named by ``TUNEWIZ_STARTUP_PROBE`` after its first refresh, then exits).  Also reports whether
torch was imported by then (it must not be: it is loaded only when a step needs it).

Usage: ``python bench/startup.py [-n 7]``;  ``python bench/startup.py --keys RUN_DIR`` times keys
(press -> screen updated) while the training in RUN_DIR runs (start one with the wizard or
``tunewiz finetune … --train``).
"""
from __future__ import annotations

import argparse
import fcntl
import os
import pty
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time


def once(cols: int = 80, rows: int = 24) -> tuple[float, str]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe")
        env = dict(os.environ, TUNEWIZ_STARTUP_PROBE=probe, TUNEWIZ_RUNS=os.path.join(tmp, "runs"), TERM="xterm-256color")
        t0 = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "tunewiz"], stdin=slave, stdout=slave, stderr=slave,
                                env=env, cwd=tmp, start_new_session=True)
        os.close(slave)
        while proc.poll() is None:  # drain the terminal so the app never blocks on output
            try:
                os.read(master, 65536)
            except OSError:
                break
        proc.wait()
        os.close(master)
        stamp, screen = open(probe).read().split()
    return float(stamp) - t0, screen


def torch_free() -> bool:
    code = ("import sys\nfrom tunewiz import cli\nfrom tunewiz.commands import wizard\n"
            "from tunewiz.wizard.app import WizardApp\nimport tunewiz.wizard.screens.welcome\n"
            "print('torch' in sys.modules)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=7, help="runs (default 7)")
    parser.add_argument("--keys", metavar="RUN_DIR", help="also time keys while the training in RUN_DIR runs")
    args = parser.parse_args()
    if args.keys:
        keys(args.keys)
        return
    once()  # warm the file cache (.pyc) once
    runs = [once() for _ in range(args.n)]
    secs = [s for s, _ in runs]
    print(f"launch -> first screen ({runs[0][1]}, 80x24 pty): median {statistics.median(secs):.3f} s, "
          f"min {min(secs):.3f} s, max {max(secs):.3f} s over {args.n} runs (goal < 0.5 s)")
    print(f"torch imported before the first screen: {not torch_free()}")


# ------------------------------------------------------------------ keys while training runs


async def _key_latency(run_dir: str, presses: int = 30) -> tuple[list[float], list[float]]:
    """(key -> handler ran, key -> screen refreshed) per press, in seconds."""
    from tunewiz.wizard.app import WizardApp
    from tunewiz.wizard.screens.base import StepScreen

    handled: list[float] = []
    original = StepScreen.action_why

    def timed_why(self):
        handled.append(time.perf_counter())
        original(self)

    StepScreen.action_why = timed_why
    app = WizardApp(attach=run_dir, why_default=False)
    to_handler, to_screen = [], []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(1.0)  # the panel has read the history and is following
        for _ in range(presses):
            t = time.perf_counter()
            await pilot.press("f1")
            await pilot.pause()
            to_screen.append(time.perf_counter() - t)
            to_handler.append(handled[-1] - t)
            await pilot.pause(0.1)
        running = app.screen.running
        iters = app.screen.history.iteration
    StepScreen.action_why = original
    print(f"attached to {run_dir}: trainer running={running}, at iteration {iters}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return to_handler, to_screen


def _summary(times: list[float]) -> str:
    times = sorted(times)
    return (f"median {1000 * statistics.median(times):.1f} ms, 95th percentile "
            f"{1000 * times[int(0.95 * len(times)) - 1]:.1f} ms, max {1000 * times[-1]:.1f} ms")


def keys(run_dir: str) -> None:
    import asyncio

    to_handler, to_screen = asyncio.run(_key_latency(run_dir))
    print(f"key -> handled while training:        {_summary(to_handler)} (goal < 100 ms)")
    print(f"key -> screen repainted while training: {_summary(to_screen)} over {len(to_screen)} presses")


if __name__ == "__main__":
    main()
