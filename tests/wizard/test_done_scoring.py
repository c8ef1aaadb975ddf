"""The Done screen scores the run's best snapshot over its validation set: the confusion matrix as a table at
80x24 (every line within the width), a heat-map at 120x40, the most confident mistakes by file name; the same
figures as ``tunewiz.infer.evaluate`` gives on its own.  The run folder is a finished one: the data converted
by the wizard's adapter (the ``prepared`` fixture), its train_val, two snapshots and the trainer's events."""
from __future__ import annotations

import pytest

from tunewiz.runs import events as ev
from tunewiz.wizard.app import WizardApp

from wizard_helpers import FIXTURES, SIZES
from wizard_walk import press_button, shot, text, until

pytestmark = pytest.mark.asyncio


def _train_val(st):
    from tunewiz.caffe.prototxt import read_net_text

    net = read_net_text(FIXTURES / "tiny_train_val.prototxt")
    for layer in net.layer:
        if layer.type == "Data":
            test = any(rule.phase == 1 for rule in layer.include)
            layer.data_param.source = st.val_db if test else st.train_db
        if layer.name == "ip2":
            layer.inner_product_param.num_output = 3
    return net


def finished_run(prepared, name: str):
    """A run folder as a finished training leaves it; the snapshot at iteration 10 has the best accuracy."""
    import shutil

    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.prototxt import to_text
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import save_caffemodel

    st = prepared["state"]
    run = st.runs_root / name
    run.mkdir(parents=True)
    shutil.copy(st.run_dir / "data" / "labels.txt", run / "labels.txt")
    net_param = _train_val(st)
    (run / "train_val.prototxt").write_text(to_text(net_param))
    models = {}
    for it, seed in ((10, 1), (20, 2)):
        net = Net(net_param, caffe_pb2.TEST, seed=seed)
        models[it] = run / f"tiny_iter_{it}.caffemodel"
        save_caffemodel(net, models[it])
        net.close()
    events = [ev.Started(0, 20, "cpu", "solver.prototxt", "train_val.prototxt")]
    for it in (10, 20):
        events += [ev.IterationDone(it, 1.0, 1.0, 0.01, 100.0),
                   ev.TestDone(it, 0, {"accuracy": 0.8 if it == 10 else 0.5, "loss": 1.0}),
                   ev.SnapshotSaved(it, [str(models[it]), str(run / f"tiny_iter_{it}.solverstate")])]
    events.append(ev.Finished(20))
    (run / "events.jsonl").write_text("".join(ev.to_json(e) + "\n" for e in events))
    return run, models[10]


def expected(run, model):
    """The pass scored here, without the wizard."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.prototxt import read_net_text
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import copy_trained_layers
    from tunewiz.infer.evaluate import run_evaluation

    net = Net(read_net_text(run / "train_val.prototxt"), caffe_pb2.TEST)
    copy_trained_layers(net, [str(model)])
    result = run_evaluation(net, keep=8)
    net.close()
    return result


async def _done(pilot, app):
    await until(pilot, lambda: app.screen.history.done, what="history")
    await pilot.press("ctrl+n")
    await until(pilot, lambda: type(app.screen).__name__ == "DoneScreen", what="Done screen")
    await until(pilot, lambda: app.screen.score is not None or "No confusion" in text(app, "#score-status"),
                what="the scoring pass")
    assert app.screen.score is not None, text(app, "#score-status")


@pytest.mark.parametrize("size", SIZES)
async def test_done_shows_the_best_snapshots_confusion_matrix(prepared, size):
    run, best = finished_run(prepared, f"scored{size[0]}")
    want = expected(run, best)
    names = (run / "labels.txt").read_text().split()
    app = WizardApp(runs_root=run.parent, attach=run, why_default=False)
    async with app.run_test(size=size) as pilot:
        await _done(pilot, app)
        status = text(app, "#score-status")
        assert f"{best.name} on the {want.counted} validation records: top-1" in status
        assert want.counted == want.records == prepared["state"].val_count  # one pass, each record once
        matrix = text(app, "#confusion").splitlines()
        width = app.screen.query_one("#body").content_size.width
        assert all(len(line) <= width for line in matrix), matrix
        assert matrix[0].split()[-3:] == names
        for t, row in enumerate(want.scores.matrix):
            assert matrix[1 + t].split() == [names[t], *map(str, row)]
        heat = any("on rgb(" in str(span.style) for span in app.screen.query_one("#confusion").content.spans)
        assert heat == (size[0] >= 100)  # a heat-map where the terminal is wider, a plain table at 80
        mistakes = text(app, "#mistakes")
        assert want.scores.mistakes, "the random weights make mistakes: the list means something"
        for m in want.scores.mistakes:
            assert f"{names[m.true]} -> {names[m.predicted]}  {m.file}" in mistakes
            assert m.file.startswith(("five/", "six/", "seven/"))
        app.screen.query_one("#confusion").scroll_visible(animate=False)
        await until(pilot, lambda: matrix[1] in shot(app), timeout=10, what="the matrix on screen")
        if size == (80, 24):
            await press_button(pilot, app, "#try")  # the quick try takes the best snapshot too
            await until(pilot, lambda: "record 0:" in text(app, "#try-result"), what="quick try")
            assert text(app, "#try-result").startswith(f"with {best.name}:")


async def test_a_run_without_its_snapshots_says_why_there_is_no_matrix(prepared):
    run, best = finished_run(prepared, "gone")
    for model in run.glob("*.caffemodel"):
        model.unlink()
    app = WizardApp(runs_root=run.parent, attach=run, why_default=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen.history.done, what="history")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: "No confusion matrix" in text(app, "#score-status"), what="the reason")
        assert f"{run}: no snapshot (.caffemodel) in it yet" in text(app, "#score-status")
        assert "Problem" not in text(app, "#status")  # the rest of the screen stands
