"""Caffe's CPU summation order (``tunewiz.engine.layers.kernels.caffe_cpu``): pycaffe's forward blobs bit for bit."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tunewiz.caffe.netio import read_net
from tunewiz.engine.layers.kernels import caffe_cpu
from tunewiz.engine.net.net import Net
from tunewiz.engine.net.weights import copy_trained_layers

FWD = Path(__file__).resolve().parents[3] / "fixtures" / "training" / "forward"


def _net(exact: bool):
    param = read_net(FWD / "lenet_v1_deploy.upgraded.prototxt")
    param.layer[0].input_param.shape[0].dim[0] = 4
    net = Net(param, "TEST", numerics="caffe" if exact else "torch")
    copy_trained_layers(net, [str(FWD / "lenet_iter_10.caffemodel")])
    if exact:
        assert [layer.name for layer in net.layers if layer.engine == "caffe"] == ["conv1", "conv2", "ip1", "ip2"]
    return net


def test_forward_blobs_equal_pycaffe_bit_for_bit():
    caffe = np.load(FWD / "blobs.npz")
    with torch.no_grad():
        blobs = _net(True).forward({"data": torch.from_numpy(np.load(FWD / "input.npy"))})
    for name in ("conv1", "pool1", "conv2", "pool2", "ip1", "ip2"):
        assert blobs[name].numpy().tobytes() == caffe[name].tobytes(), name


def _grads(fn, *inputs):
    inputs = [t.clone().requires_grad_(True) for t in inputs]
    out = fn(*inputs)
    (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
    return [out.detach()] + [t.grad for t in inputs]


def test_conv_backward_against_autograd():
    """The hand-written backward (Caffe's gemm calls, col2im order), with pad and stride."""
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(3, 2, 9, 8, generator=g), torch.randn(4, 2, 3, 3, generator=g), torch.randn(4, generator=g)
    ours = _grads(lambda x, w, b: caffe_cpu.conv(x, w, b, (3, 3), (2, 1), (1, 2)), x, w, b)
    ref = _grads(lambda x, w, b: torch.nn.functional.conv2d(x, w, b, (2, 1), (1, 2)), x, w, b)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)


def test_inner_product_and_softmax_loss_backward():
    g = torch.Generator().manual_seed(1)
    x, w, b = torch.randn(5, 7, generator=g), torch.randn(3, 7, generator=g), torch.randn(3, generator=g)
    for transpose in (False, True):
        weight = w.t().contiguous() if transpose else w
        ours = _grads(lambda x, w, b: caffe_cpu.inner_product(x, w, b, transpose), x, weight, b)
        ref = _grads(lambda x, w, b: x @ (w if transpose else w.t()) + b, x, weight, b)
        for a, r in zip(ours, ref):
            torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-6)
    scores, labels = torch.randn(6, 4, generator=g, requires_grad=True), torch.tensor([0., 3, 1, 2, 2, 0])
    loss = caffe_cpu.softmax_loss(scores, labels, 6.0)
    loss.backward()
    ref_scores = scores.detach().clone().requires_grad_(True)
    ref = torch.nn.functional.cross_entropy(ref_scores, labels.long())
    ref.backward()
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(scores.grad, ref_scores.grad)


def test_each_layer_chooses_its_engine_when_built():
    """As Caffe's layer_factory picks an engine: ``Net(numerics="caffe")`` reaches every layer as it is
    built and the summing ones store Caffe's order as the forward they run (their own ``forward`` is
    never patched); ``choose_engine("torch")`` goes back to torch's kernels (results differ in the last
    bits, as the module says) and hooks wrap whichever forward the layer runs."""
    x = torch.from_numpy(np.load(FWD / "input.npy"))
    torch_net, net = _net(False), _net(True)
    assert net.numerics == "caffe" and torch_net.numerics == "torch"
    assert all(layer.engine == "torch" for layer in torch_net.layers)
    assert all("forward" not in vars(layer) for layer in net.layers)
    with torch.no_grad():
        exact, plain = net.forward({"data": x}), torch_net.forward({"data": x})
        assert exact["conv2"].numpy().tobytes() == np.load(FWD / "blobs.npz")["conv2"].tobytes()
        assert net.choose_engine("torch") == [] and net.numerics == "torch"
        back = net.forward({"data": x})
    assert all(torch.equal(back[name], plain[name]) for name in plain)
    seen = []
    net.add_hooks(net.layer_by_name("ip1"), lambda layer, bottoms: seen.append(layer.name))
    assert net.choose_engine("caffe") == ["conv1", "conv2", "ip1", "ip2"]
    with torch.no_grad():
        again = net.forward({"data": x})
    assert seen == ["ip1"] and torch.equal(again["prob"], exact["prob"])


def test_the_choice_is_the_layers_own():
    """Where Caffe's order does not cover the setup the layer keeps torch's kernels, and a net not on
    the CPU (here the meta device) keeps them everywhere; an unknown numerics is refused."""
    param = read_net(FWD / "lenet_v1_deploy.upgraded.prototxt")
    param.layer[3].type = "Deconvolution"  # conv2: no Caffe-order kernel for a transposed convolution
    net = Net(param, "TEST", numerics="caffe")
    assert [layer.name for layer in net.layers if layer.engine == "caffe"] == ["conv1", "ip1", "ip2"]
    meta = Net(read_net(FWD / "lenet_v1_deploy.upgraded.prototxt"), "TEST", device="meta", numerics="caffe")
    assert meta.numerics == "torch" and all(layer.run == layer.forward for layer in meta.layers)
    with pytest.raises(ValueError, match="use 'caffe' or 'torch'"):
        Net(param, "TEST", numerics="fast")


def test_exact_path_keeps_numpys_blas_on_one_thread():
    """Its many small per-image sgemm calls would otherwise leave OpenBLAS workers spinning
    against torch's threads (same sums either way: the fidelity tests pass with 1 or 2 threads)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    _net(True)
    blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    assert blas and all(p["num_threads"] == 1 for p in blas)


@pytest.mark.parametrize("loss_param", ["normalization: FULL", "normalization: VALID", "normalization: BATCH_SIZE",
                                        "normalization: NONE", "normalize: false", ""])
def test_softmax_loss_divides_by_the_layers_own_normalizer(loss_param):
    """Caffe's order and torch's kernels share SoftmaxWithLoss's one normalizer (Caffe's get_normalizer)."""
    from tunewiz.caffe import caffe_pb2
    from tunewiz.caffe.prototxt import parse_text
    from tunewiz.engine.layers.registry import layer_class

    lp = parse_text(f'name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "y" top: "l" '
                    f'loss_param {{ {loss_param} }}', caffe_pb2.LayerParameter())
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(5, 3, generator=g), torch.tensor([0., 2, 1, 1, 0])
    layers = [layer_class(lp.type)(lp, [(5, 3), (5,)], context={"numerics": n}) for n in ("caffe", "torch")]
    assert [layer.engine for layer in layers] == ["caffe", "torch"]
    exact, plain = (layer.run(x, y)[0] for layer in layers)
    torch.testing.assert_close(exact, plain)
    assert float(plain) > 0
