"""Batch advisor: memory model, largest batch that fits, iter_size keeping the effective batch, OOM follow-up."""
import pytest

from tunewiz.recipe.batch import MiB, MemoryModel, advise, memory_model, parse_memory, suggest_after_oom
from tunewiz.recipe.layers import RecipeError


@pytest.mark.parametrize("text,value", [("8G", 8 << 30), ("8GiB", 8 << 30), ("512M", 512 * MiB),
                                        ("1.5g", 3 << 29), ("1000", 1000), ("2048MiB", 2 << 30)])
def test_parse_memory(text, value):
    assert parse_memory(text) == value


@pytest.mark.parametrize("text", ["lots", "-1G", "0"])
def test_parse_memory_bad(text):
    with pytest.raises(RecipeError):
        parse_memory(text)


def test_lenet_counts_from_shape_inference(net):
    m = memory_model(net("lenet_train_val.prototxt"), (1, 19, 19))
    # params: conv1 520, conv2 25050, ip1 20100, ip2 404 (train_val.prototxt of the reference)
    assert m.params == 520 + 25050 + 20100 + 404
    # per image: data 361 + label 1 + conv1 4500 + pool1 1280 + conv2 800 + pool2 200 + ip1 100 + ip2 4
    assert m.activations_per_image == 361 + 1 + 4500 + 1280 + 800 + 200 + 100 + 4
    assert memory_model(net("lenet_train_val.prototxt"), (1, 19, 19), "Adam").history == 2


def test_advise_keeps_effective_batch():
    m = MemoryModel(params=1_000_000, activations_per_image=1_000_000, reserve=0)  # 8 MB per image
    free = int((m.fixed_bytes + 100 * m.per_image_bytes) / 0.9) + 1  # exactly 100 images fit
    a = advise(m, free, batch_size=256)
    assert (a.batch_size, a.iter_size, a.effective) == (64, 4, 256) and a.changed
    assert m.need(a.batch_size) <= free * 0.9
    assert advise(m, free, batch_size=50).changed is False


def test_advise_without_a_good_divisor_changes_effective_batch():
    m = MemoryModel(params=0, activations_per_image=1_000_000, reserve=0)
    a = advise(m, int(10 * m.per_image_bytes / 0.9) + 1, batch_size=97)  # 97 is prime
    assert (a.batch_size, a.iter_size) == (10, 10) and "was 97" in a.lines[-1]


def test_advise_nothing_fits():
    m = MemoryModel(params=10**9, activations_per_image=10, reserve=0)
    with pytest.raises(RecipeError, match="even one image"):
        advise(m, 1 << 30, 32)


def test_oom_follow_up():
    a = suggest_after_oom(64, 2)
    assert (a.batch_size, a.iter_size, a.effective) == (32, 4, 128)
    assert "try batch_size 32 with iter_size 4" in a.lines[0]
    assert suggest_after_oom(3).batch_size == 1
    with pytest.raises(RecipeError):
        suggest_after_oom(1)


def test_memory_arg_auto_without_gpu(monkeypatch):
    import torch

    from tunewiz.recipe.batch import memory_arg

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RecipeError, match="no CUDA GPU"):
        memory_arg("auto")
    assert memory_arg("2G") == 2 << 30


def test_finetune_cli_gpu_memory_shrinks_batch(net, tmp_path, monkeypatch, capsys):
    """The advisor's proposal lands in the copies: TRAIN batch_size and the solver's iter_size."""
    from tunewiz.caffe.prototxt import read_net_text, read_solver_text
    from tunewiz.cli import main
    from tests.recipe.conftest import FIX
    from tests.recipe.helpers import make_caffemodel, make_db

    monkeypatch.chdir(tmp_path)
    make_db(tmp_path / "tr", [0, 1] * 4)
    make_db(tmp_path / "va", [0, 1] * 15)  # more than the TEST batch of 25: sizing keeps it
    make_caffemodel(tmp_path / "w.caffemodel")
    m = memory_model(net("lenet_train_val.prototxt"), (1, 19, 19))
    free = int((m.fixed_bytes + 5 * m.per_image_bytes) / 0.9) + 1  # 5 images fit, batch is 16
    argv = ["finetune", "--net", str(FIX / "lenet_train_val.prototxt"), "--solver", str(FIX / "sgd_inv_solver.prototxt"),
            "--weights", "w.caffemodel", "--train-db", "tr", "--val-db", "va", "--out", "run", "--mode", "cpu",
            "--gpu-memory", str(free)]
    assert main(argv) == 0
    assert "batch_size 4 × iter_size 4 = effective batch 16" in capsys.readouterr().out
    assert read_net_text("run/train_val.prototxt").layer[0].data_param.batch_size == 4
    assert read_net_text("run/train_val.prototxt").layer[1].data_param.batch_size == 25  # TEST unchanged
    assert read_solver_text("run/solver.prototxt").iter_size == 4


def _two_gpus(monkeypatch, free=(8 << 30, 6 << 30)):
    """A machine with two GPUs, as the core sees it (engine.devices.visible_gpus and their free memory)."""
    from tunewiz.engine import devices
    from tunewiz.recipe import batch

    gpus = [devices.Gpu(0, "Fake A100", 80 << 30), devices.Gpu(1, "Fake A100", 80 << 30)]
    monkeypatch.setattr(devices, "visible_gpus", lambda: gpus)
    monkeypatch.setattr(batch, "free_gpu_memory", lambda device=0: free[device])


def test_auto_memory_is_the_smallest_free_memory_of_the_chosen_gpus(monkeypatch):
    """Every rank runs the whole batch: the advice must fit the GPU with the least room."""
    from tunewiz.recipe.batch import chosen_gpus, memory_arg

    _two_gpus(monkeypatch)
    assert memory_arg("auto", "0,1") == memory_arg("auto", "all") == 6 << 30
    assert memory_arg("auto", "0") == memory_arg("auto") == 8 << 30  # no --gpu: solver_mode's GPU 0
    assert memory_arg("3G", "0,1") == 3 << 30  # a size given is a size per GPU
    assert chosen_gpus("all") == [0, 1] and chosen_gpus("1") == [1]
    with pytest.raises(RecipeError, match="--gpu 0,3: there is no GPU 3 here"):
        chosen_gpus("0,3")


def test_rank_lines_say_what_an_iteration_sees():
    from tunewiz.recipe.batch import rank_lines

    assert rank_lines(1, 64, 2) == []
    (line,) = rank_lines(2, 64, 2)
    assert "2 GPUs: each runs batch_size 64 (the advice is per GPU)" in line
    assert "2 x 128 = 256 images" in line and "base_lr is left as it is" in line


def test_finetune_cli_on_two_gpus_advises_per_gpu(net, tmp_path, monkeypatch, capsys):
    """--gpu 0,1 --gpu-memory auto: the advice fits the smaller GPU, the plan says each rank runs it, the
    solver trains on the GPUs and the next command is tunewiz train --gpu 0,1."""
    from tunewiz.caffe.prototxt import read_net_text, read_solver_text
    from tunewiz.cli import main
    from tests.recipe.conftest import FIX
    from tests.recipe.helpers import make_caffemodel, make_db

    monkeypatch.chdir(tmp_path)
    make_db(tmp_path / "tr", [0, 1] * 4)
    make_db(tmp_path / "va", [0, 1] * 15)
    make_caffemodel(tmp_path / "w.caffemodel")
    m = memory_model(net("lenet_train_val.prototxt"), (1, 19, 19))
    fits = [int((m.fixed_bytes + n * m.per_image_bytes) / 0.9) + 1 for n in (16, 5)]  # GPU 1: 5 images fit
    _two_gpus(monkeypatch, free=fits)
    argv = ["finetune", "--net", str(FIX / "lenet_train_val.prototxt"), "--solver", str(FIX / "sgd_inv_solver.prototxt"),
            "--weights", "w.caffemodel", "--train-db", "tr", "--val-db", "va", "--out", "run", "--gpu", "0,1",
            "--gpu-memory", "auto"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "batch_size 4 × iter_size 4 = effective batch 16" in out
    assert "2 GPUs: each runs batch_size 4 (the advice is per GPU), so an iteration sees 2 x 16 = 32 images" in out
    assert read_net_text("run/train_val.prototxt").layer[0].data_param.batch_size == 4
    assert read_solver_text("run/solver.prototxt").solver_mode == 1  # GPU
    assert "--gpu 0,1" in out.splitlines()[-1] and out.splitlines()[-1].startswith("next: tunewiz train")
