"""The module-level API: a light, side-effect-free ``import tunewiz``, phases, mode, seed, layer types."""
import subprocess
import sys

import pytest

import tunewiz
from tunewiz.pycaffe import mode


def _fresh(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_import_and_phases_leave_torch_and_the_engine_out():
    out = _fresh("import sys, tunewiz\n"
                 "print(tunewiz.TRAIN, tunewiz.TEST, tunewiz.__version__)\n"
                 "tunewiz.set_mode_cpu(); tunewiz.set_device(0)\n"
                 "heavy = [m for m in sys.modules if m in ('torch', 'numpy', 'textual') or m.startswith('tunewiz.engine')]\n"
                 "print(heavy)")
    assert out.splitlines() == [f"0 1 {tunewiz.__version__}", "[]"]


def test_a_net_is_what_imports_torch():
    out = _fresh("import sys, tunewiz\nnet_class = tunewiz.Net\nprint('torch' in sys.modules)")
    assert out == "True"


def test_import_changes_no_global_state():
    """BLAS threads, TF32 and the torch seed are as torch left them (compared with torch imported alone)."""
    probe = ("import torch\n"
             "print(torch.get_num_threads(), torch.backends.cuda.matmul.allow_tf32, "
             "torch.get_float32_matmul_precision(), torch.initial_seed() == torch.default_generator.initial_seed())\n")
    alone = _fresh(probe)
    assert _fresh("import tunewiz\nassert tunewiz.TEST == 1\n" + probe) == alone


def test_phases_are_caffes_enum_values():
    from tunewiz.caffe import caffe_pb2

    assert (tunewiz.TRAIN, tunewiz.TEST) == (caffe_pb2.TRAIN, caffe_pb2.TEST)


def test_mode_and_device_choose_the_torch_device():
    try:
        tunewiz.set_device(1)
        tunewiz.set_mode_gpu()
        assert mode.device() == "cuda:1"
        tunewiz.set_mode_cpu()
        assert mode.device() == "cpu"
        with pytest.raises(tunewiz.errors.TunewizError, match="0 or more"):
            tunewiz.set_device(-1)
    finally:
        tunewiz.set_device(0)
        tunewiz.set_mode_cpu()


def test_a_gpu_net_without_a_gpu_is_a_runtime_error():
    import torch

    from tunewiz.sample_models import LENET_DIGITS

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    tunewiz.set_mode_gpu()
    try:
        with pytest.raises(RuntimeError, match="no CUDA device"):
            tunewiz.Net(str(LENET_DIGITS / "lenet_deploy.prototxt"), tunewiz.TEST)
    finally:
        tunewiz.set_mode_cpu()


def test_set_random_seed_makes_fillers_repeatable(tmp_path):
    deploy = tmp_path / "net.prototxt"
    deploy.write_text('layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 4 } } }\n'
                      'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param '
                      '{ num_output: 3 weight_filler { type: "gaussian" std: 1 } } }\n')
    tunewiz.set_random_seed(3)
    first = tunewiz.Net(str(deploy), tunewiz.TEST).params["ip"][0].data.copy()
    second = tunewiz.Net(str(deploy), tunewiz.TEST).params["ip"][0].data.copy()
    tunewiz.set_random_seed(3)
    again = tunewiz.Net(str(deploy), tunewiz.TEST).params["ip"][0].data
    assert (first == again).all() and not (first == second).all()


def test_layer_type_list():
    types = tunewiz.layer_type_list()
    assert types == sorted(types) and {"Convolution", "Input", "SoftmaxWithLoss", "Split"} <= set(types)


def test_unknown_names_and_dir():
    with pytest.raises(AttributeError, match="no attribute 'Solverr'"):
        tunewiz.Solverr  # noqa: B018
    assert {"Net", "TRAIN", "FinetuneOptions", "layer_type_list"} <= set(dir(tunewiz))
    from tunewiz.recipe import FinetuneOptions

    assert tunewiz.FinetuneOptions is FinetuneOptions
