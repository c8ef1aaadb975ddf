"""``core.options_for``: the wizard's choices as the recipe's one contract (no edit of the wizard's own)."""
from __future__ import annotations

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
