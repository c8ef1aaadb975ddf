"""``core.options_for``: the wizard's choices as the recipe's one contract (no edit of the wizard's own)."""
from __future__ import annotations

import re

import pytest

from tunewiz.errors import TunewizError
from tunewiz.wizard import core
from tunewiz.wizard.state import SAMPLE_DIR, WizardState


def _state(tmp_path) -> WizardState:
    st = WizardState(runs_root=tmp_path / "runs")
    st.use_sample()
    st.train_db, st.val_db = str(tmp_path / "train_lmdb"), str(tmp_path / "val_lmdb")
    return st


def test_the_sample_state_as_options(tmp_path):
    st = _state(tmp_path)
    opts = core.options_for(st)
    assert opts.net == str(SAMPLE_DIR / "lenet_train_val.prototxt") and opts.solver.endswith("lenet_solver.prototxt")
    assert opts.weights == (str(SAMPLE_DIR / "lenet_digits04.caffemodel"),)  # named at step 1: the data-fit check
    assert opts.max_iter == 100 and opts.lr_divisor == 10 and opts.out == str(st.run_dir)
    assert opts.run_name is None  # the recipe names the run after its folder already
    assert opts.mean_file is None and opts.mean_value == ()  # the pretrained net's preprocessing is kept


def test_every_choice_is_a_typed_field(tmp_path):
    st = _state(tmp_path)
    st.new_name, st.freeze_through, st.gpu_memory, st.lr_divisor = "head", "conv2", "4G", 100.0
    st.base_lr, st.max_iter, st.snapshot_every, st.stepsize, st.test_iter, st.test_interval = 0.5, 7, 3, 2, 4, 5
    st.mean_file, st.new_mean = str(tmp_path / "mean.binaryproto"), True
    opts = core.options_for(st)
    assert (opts.rename, opts.freeze_through, opts.gpu_memory, opts.lr_divisor) == (("head",), "conv2", "4G", 100.0)
    assert (opts.base_lr, opts.max_iter, opts.snapshot_every, opts.stepsize, opts.test_iter,
            opts.test_interval) == (0.5, 7, 3, 2, 4, 5)
    assert opts.mean_file == str(tmp_path / "mean.binaryproto")


def test_the_start_given_and_the_start_guessed(tmp_path):
    st = _state(tmp_path)
    st.start_path = str(tmp_path / "not_yet.caffemodel")  # half typed: the previews go on without it
    assert core.options_for(st).weights == ()
    snap = tmp_path / "r_iter_5.solverstate"
    opts = core.options_for(st, "snapshot", str(snap))  # Start's check names it whether it exists or not
    assert opts.snapshot == str(snap) and opts.weights == ()


def test_the_new_mean_needs_the_data_steps_mean(tmp_path):
    st = _state(tmp_path)
    st.new_mean = True
    with pytest.raises(TunewizError, match="mean was not computed"):
        core.options_for(st)


def test_the_net_step_needs_data(tmp_path):
    st = _state(tmp_path)
    st.train_db = ""
    with pytest.raises(TunewizError, match="no data yet"):
        core.net_options(st)


def test_a_deploys_preprocessing_is_asked_then_passed(tmp_path):
    st = _state(tmp_path)
    st.net_src, st.deploy_src, st.solver_src, st.net_kind = str(SAMPLE_DIR / "lenet_deploy.prototxt"), "", "", "deploy"
    with pytest.raises(TunewizError, match="Pretrained preprocessing"):  # a deploy does not record it
        core.options_for(st)
    st.preprocessing, st.scale = "imagenet", 0.017
    opts = core.options_for(st)
    assert (opts.mean_value, opts.mean_file, opts.scale) == ((104.0, 117.0, 123.0), None, 0.017)
    assert opts.solver is None and opts.deploy is None  # the recipe writes both from the deploy
    st.preprocessing = "mean_file"
    with pytest.raises(TunewizError, match="own mean file"):
        core.options_for(st)
    st.preprocessing_mean = str(tmp_path / "model_mean.binaryproto")
    assert core.options_for(st).mean_file == st.preprocessing_mean
    st.preprocessing, st.scale = "none", None
    assert core.options_for(st).mean_value == (0.0,)
    st.mean_file, st.new_mean = str(tmp_path / "mean.binaryproto"), True  # the new data's mean wins
    assert (core.options_for(st).mean_file, core.options_for(st).mean_value) == (st.mean_file, ())


def test_a_train_vals_own_preprocessing_is_kept(tmp_path):
    st = _state(tmp_path)
    st.net_kind, st.preprocessing, st.scale = "train_val", "imagenet", 0.5  # left from a deploy loaded before
    opts = core.options_for(st)
    assert (opts.mean_value, opts.mean_file, opts.scale) == ((), None, None)


def test_numerics_is_the_states_choice(tmp_path):
    st = _state(tmp_path)
    assert core.options_for(st).numerics == "caffe"
    st.numerics = "torch"
    assert "--numerics=torch" in core.options_for(st).command_line(train=True)


def _gpus(n: int) -> list:
    from tunewiz.engine.devices import Gpu

    return [Gpu(i, "Fake H200", 140 << 30) for i in range(n)]


def test_the_device_choice_is_gpu_or_mode(tmp_path):
    """CPU -> --mode cpu; one/several GPUs -> --gpu ids; all -> --gpu all; the default writes neither."""
    st = _state(tmp_path)
    st.gpus = _gpus(2)
    assert (core.options_for(st).gpu, core.options_for(st).mode) == (None, None)
    for device, ids, want in (("cpu", "", {"mode": "cpu"}), ("one", "1", {"gpu": "1"}),
                              ("several", "0, 1", {"gpu": "0,1"}), ("all", "", {"gpu": "all"})):
        st.device, st.gpu_ids = device, ids
        assert core.device_options(st) == want
    st.device, st.gpu_ids = "several", "0,1"
    assert "--gpu=0,1" in core.options_for(st).command_line(train=True)


@pytest.mark.parametrize("device, ids, says", [("one", "0,1", "one GPU: give one id"),
                                               ("several", "1", "several GPUs: give two ids or more"),
                                               ("several", "0,2", "give ids of the GPUs listed (0, 1)"),
                                               ("one", "x", "GPU ids 'x'")])
def test_gpu_ids_that_do_not_fit_the_choice_are_refused(tmp_path, device, ids, says):
    st = _state(tmp_path)
    st.gpus, st.device, st.gpu_ids = _gpus(2), device, ids
    with pytest.raises(TunewizError, match=re.escape(says)):
        core.options_for(st)


def test_the_visible_gpus_are_asked_once(tmp_path, monkeypatch):
    from tunewiz.engine import devices

    asked = []
    monkeypatch.setattr(devices, "visible_gpus", lambda: asked.append(1) or _gpus(2))
    st = _state(tmp_path)
    assert core.visible_gpus(st) == core.visible_gpus(st) == _gpus(2) and asked == [1]
