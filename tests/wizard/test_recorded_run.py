"""The Train screen driven by a recorded run: tests/fixtures/runs/sgd_inv/events.jsonl (and its train.log),
written by a real ``tunewiz train`` (tests/fixtures/runs/record.py makes them), replayed line by line into a
run folder while the panel follows it at 80x24: iteration, loss, test accuracy, snapshots and the finish."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tunewiz.runs import events as ev
from tunewiz.wizard.app import WizardApp

from wizard_walk import shot, text, until

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "sgd_inv"


def _recorded() -> list[str]:
    return (RECORDED / "events.jsonl").read_text().splitlines(keepends=True)


def test_the_recording_is_the_current_schema():
    events = [ev.parse_line(line).event for line in _recorded()]
    kinds = [type(e) for e in events]
    assert kinds[0] is ev.Started and kinds[-1] is ev.Finished and kinds.count(ev.IterationDone) == 20
    assert kinds.count(ev.TestDone) == 3 and kinds.count(ev.SnapshotSaved) == 2


@pytest.mark.asyncio
async def test_the_panel_follows_a_recorded_run(tmp_path):
    lines = _recorded()
    run = tmp_path / "runs" / "recorded"
    run.mkdir(parents=True)
    shutil.copy(RECORDED / "train.log", run / "train.log")
    half = next(i for i, line in enumerate(lines) if json.loads(line)["event"] == "snapshot") + 2  # + the test
    (run / "events.jsonl").write_text("".join(lines[:half]))
    app = WizardApp(runs_root=run.parent, attach=run, why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen.history.snapshot_count == 1, what="the first half")
        await until(pilot, lambda: "iteration 9/20" in text(app, "#progress-line"), what="iteration drawn")
        stats = text(app, "#stats")
        assert "test: accuracy 0.6600" in stats and "snapshots: 1" in stats, stats
        with open(run / "events.jsonl", "a") as f:  # the rest, as the trainer wrote it
            f.writelines(lines[half:])
        await until(pilot, lambda: app.screen.history.done, what="the finish")
        last = [json.loads(line) for line in lines if json.loads(line)["event"] == "iteration"][-1]
        await until(pilot, lambda: "FINISHED" in text(app, "#progress-line"), what="FINISHED drawn")
        assert "iteration 20/20 100%" in text(app, "#progress-line")
        stats = text(app, "#stats")
        assert f"loss {last['loss']:.4f} (smoothed {last['smoothed_loss']:.4f})" in stats, stats
        assert "test: accuracy 0.7000" in stats and "snapshots: 2" in stats and "device cpu" in stats, stats
        assert app.screen.history.accuracy == pytest.approx((0.26, 0.66, 0.70))
        await until(pilot, lambda: "test accuracy" in shot(app) and "loss (raw, dots)" in shot(app), what="plots")
        assert "Optimization Done." in text(app, "#loglines")
        seen = shot(app)
        assert "FINISHED" in seen and "iteration 20/20" in seen
