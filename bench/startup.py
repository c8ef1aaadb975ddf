"""Time from launch to the wizard's first screen (goal: < 0.5 s), on a real pseudo-terminal.

Each run starts ``python -m tunewiz`` (what the ``tunewiz`` script runs) on an 80x24 pty and
notes the wall time when the Welcome screen has been painted (the app writes it to the file
named by ``TUNEWIZ_STARTUP_PROBE`` after its first refresh, with its CPU seconds so far, then
exits).  Also reports whether torch was imported by then (it must not be: it is loaded only when
a step needs it).  Startup is CPU-bound: the app waits for no terminal reply (wall - CPU is
~0 ms), so the wall figure follows the machine's speed of the moment (on the 2-core dev VM it
swings between ~0.36 s and ~0.56 s in phases of seconds, with or without tmux answering the
terminal queries).

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


def once(cols: int = 80, rows: int = 24) -> tuple[float, str, float]:
    """(wall seconds launch -> first screen, screen name, the app's CPU seconds by then)."""
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
        stamp, screen, cpu = open(probe).read().split()
    return float(stamp) - t0, screen, float(cpu)


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
    secs, cpus = [s for s, _, _ in runs], [c for _, _, c in runs]
    print(f"launch -> first screen ({runs[0][1]}, 80x24 pty): median {statistics.median(secs):.3f} s, "
          f"min {min(secs):.3f} s, max {max(secs):.3f} s over {args.n} runs (goal < 0.5 s)")
    print(f"  app CPU by then: median {statistics.median(cpus):.3f} s; waiting (wall - CPU): median "
          f"{max(0.0, 1000 * statistics.median(s - c for s, _, c in runs)):.0f} ms; load average {os.getloadavg()[0]:.2f}")
    print(f"torch imported before the first screen: {not torch_free()}")


# ------------------------------------------------------------------ keys while training runs


async def _key_latency(run_dir: str, presses: int = 30) -> list[float]:
    """Seconds from a key press to its handler running, in a headless app attached to the run."""
    from tunewiz.wizard.app import WizardApp
    from tunewiz.wizard.screens.base import StepScreen

    handled: list[float] = []
    original = StepScreen.action_why

    def timed_why(self):
        handled.append(time.perf_counter())
        original(self)

    StepScreen.action_why = timed_why
    app = WizardApp(attach=run_dir, why_default=False)
    to_handler = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(1.0)  # the panel has read the history and is following
        for _ in range(presses):
            t = time.perf_counter()
            await pilot.press("f1")
            to_handler.append(handled[-1] - t)
            await pilot.pause(0.1)
        running = app.screen.running
        iters = app.screen.history.iteration
    StepScreen.action_why = original
    print(f"attached to {run_dir}: trainer running={running}, at iteration {iters}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return to_handler


def _summary(times: list[float]) -> str:
    times = sorted(times)
    return (f"median {1000 * statistics.median(times):.1f} ms, 95th percentile "
            f"{1000 * times[int(0.95 * len(times)) - 1]:.1f} ms, max {1000 * times[-1]:.1f} ms")


def _pty_key_latency(run_dir: str, presses: int = 20) -> list[float]:
    """``tunewiz attach RUN_DIR`` on an 80x24 pty: seconds from writing F1 to the first repainted bytes."""
    import select

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "tunewiz", "attach", run_dir], stdin=slave, stdout=slave,
                            stderr=slave, env=dict(os.environ, TERM="xterm-256color"), start_new_session=True)
    os.close(slave)

    def drain(seconds: float) -> float | None:
        """Read for ``seconds``; return when the first bytes came (None: nothing came)."""
        first, end = None, time.perf_counter() + seconds
        while (left := end - time.perf_counter()) > 0:
            ready, _, _ = select.select([master], [], [], left)
            if ready:
                os.read(master, 65536)
                first = first or time.perf_counter()
        return first

    drain(4.0)  # the panel is up and following
    times = []
    for _ in range(presses):
        t = time.perf_counter()
        os.write(master, b"\x1bOP")  # F1: toggles the why panel (a relayout of the whole screen)
        first = drain(0.4)
        if first is not None:
            times.append(first - t)
    os.write(master, b"\x11")  # Ctrl+Q
    time.sleep(0.5)
    os.write(master, b"\r")  # "leave it running and quit" when asked
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
    os.close(master)
    return times


def keys(run_dir: str) -> None:
    import asyncio

    to_handler = asyncio.run(_key_latency(run_dir))
    print(f"key -> handler ran while training (headless Pilot):  {_summary(to_handler)} (goal < 100 ms)")
    on_pty = _pty_key_latency(run_dir)
    print(f"key -> first repainted bytes on a real 80x24 pty:   {_summary(on_pty)} over {len(on_pty)} presses "
          f"(goal < 100 ms); load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
