"""Time from launch to the wizard's first screen (goal: < 0.5 s).

Starts a fresh interpreter that imports the CLI, builds the wizard app and runs it headless
until the Welcome screen is mounted and rendered, and prints the wall time; also reports
whether torch was imported by then (it must not be).  Usage: ``python bench/startup.py [-n 5]``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import time, sys, json
t0 = time.perf_counter()
import asyncio
from tunewiz import cli
from tunewiz.commands import wizard as cmd
from tunewiz.wizard.app import WizardApp

async def main():
    app = WizardApp(why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        first = type(app.screen).__name__
        app.screen.query_one("#choices")
        t1 = time.perf_counter()
    return first, t1

first, t1 = asyncio.run(main())
print(json.dumps({"seconds": t1 - T_START, "in_process": t1 - t0, "screen": first,
                  "torch_loaded": "torch" in sys.modules, "plotext_loaded": "plotext" in sys.modules}))
"""


def once() -> dict:
    import time

    start = time.time()
    code = f"T_START_WALL={start!r}\nimport time as _t\nT_START=_t.perf_counter()-(_t.time()-T_START_WALL)\n" + CHILD
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=5, help="runs (default 5)")
    args = parser.parse_args()
    runs = [once() for _ in range(args.n)]
    secs = [r["seconds"] for r in runs]
    print(f"first screen ({runs[0]['screen']}) after launch: median {statistics.median(secs):.3f} s, "
          f"min {min(secs):.3f} s, max {max(secs):.3f} s over {args.n} runs")
    print(f"torch loaded before first screen: {any(r['torch_loaded'] for r in runs)}; "
          f"plotext loaded: {any(r['plotext_loaded'] for r in runs)}")


if __name__ == "__main__":
    main()
