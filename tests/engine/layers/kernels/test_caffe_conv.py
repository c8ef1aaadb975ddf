"""Caffe's convolution order (``kernels.caffe_conv``): real Caffe's blobs and gradients, any chunking or threads.

The fixture (``tests/fixtures/caffe_conv``, made by real Caffe) has grouped, dilated, strided and padded
convolutions.  Its numbers are compared bit for bit when numpy's OpenBLAS runs the core Caffe ran on
(the last bits of an sgemm are its kernel's), and within float32 rounding on any other machine.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tunewiz.caffe.netio import read_net
from tunewiz.engine import cblas
from tunewiz.engine.layers.kernels import caffe_conv, caffe_cpu
from tunewiz.engine.net.net import Net

FIX = Path(__file__).resolve().parents[3] / "fixtures" / "caffe_conv"
LAYERS = ("ca", "cb", "cc", "cd", "ce", "ip")



def _run(numerics="caffe"):
    ref = np.load(FIX / "caffe.npz")
    net = Net(read_net(FIX / "net.prototxt"), "TRAIN", numerics=numerics)
    for name in LAYERS:
        for i, blob in enumerate(net.layer_by_name(name).blobs):
            blob.data.copy_(torch.from_numpy(ref[f"w_{name}_{i}"]))
    blobs = net.forward({"data": torch.from_numpy(ref["in_data"]), "label": torch.from_numpy(ref["in_label"])})
    net.loss(blobs).backward()
    grads = {f"g_{name}_{i}": blob.grad.numpy().copy()
             for name in LAYERS for i, blob in enumerate(net.layer_by_name(name).blobs)}
    tops = {f"b_{name}": blobs[name].detach().numpy().copy() for name in LAYERS + ("loss",)}
    return ref, net, {**grads, **tops}


def test_blobs_and_gradients_are_real_caffes():
    ref, net, ours = _run()
    assert [layer.name for layer in net.layers if layer.engine == "caffe"] == list(LAYERS) + ["loss"]
    exact = cblas.core() == str(ref["core"]) and cblas.available()
    for key, value in ours.items():
        if exact:
            assert value.tobytes() == ref[key].tobytes(), key
        else:
            np.testing.assert_allclose(value, ref[key], rtol=1e-5, atol=1e-6 * np.abs(ref[key]).max(), err_msg=key)


def test_torchs_kernels_are_not_bit_equal_here():
    """The fixture can tell the two apart: torch's kernels differ from Caffe in the last bits."""
    ref, _, ours = _run("torch")
    assert any(ours[k].tobytes() != ref[k].tobytes() for k in ours if k.startswith("g_"))


def _case(seed=0, n=5, group=2, stride=(1, 2), pad=(2, 1), dilation=(1, 2)):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, 11, 13, generator=g)
    w, b = torch.randn(6, 4 // group, 3, 3, generator=g), torch.randn(6, generator=g)
    return x, w, b, dict(kernel=(3, 3), stride=stride, pad=pad, dilation=dilation, group=group)


def _grads(x, w, b, geom):
    x, w, b = (t.clone().requires_grad_(True) for t in (x, w, b))
    out = caffe_cpu.conv(x, w, b, **geom)
    (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
    return [out.detach(), x.grad, w.grad, b.grad]


@pytest.mark.parametrize("setup", [{}, dict(stride=(1, 1), pad=(0, 0), dilation=(1, 1), kernel=(1, 1))])
def test_conv_matches_torchs_within_rounding(setup):
    x, w, b, geom = _case()
    if setup:  # 1x1: the image is its own column buffer
        geom, w = {**geom, **setup}, w[:, :, :1, :1].contiguous()
    ours = _grads(x, w, b, geom)
    xr, wr, br = (t.clone().requires_grad_(True) for t in (x, w, b))
    out = torch.nn.functional.conv2d(xr, wr, br, geom["stride"], geom["pad"], geom["dilation"], geom["group"])
    (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
    for a, r in zip(ours, [out.detach(), xr.grad, wr.grad, br.grad]):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)


def test_chunks_and_threads_change_no_bit(monkeypatch):
    """Columns made a few images at a time, or one thread instead of two: the same sums."""
    x, w, b, geom = _case(seed=3, n=7)
    whole = _grads(x, w, b, geom)
    probe = caffe_conv.Geometry((4, 11, 13), (3, 3), (1, 2), (2, 1), (1, 2), 2)
    monkeypatch.setattr(caffe_conv, "CHUNK_BYTES", 2 * probe.rows * probe.oh * probe.ow * 4)  # 2 images
    assert len(probe.chunks(7)) == 4
    chunked = _grads(x, w, b, geom)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial = _grads(x, w, b, geom)
    finally:
        torch.set_num_threads(threads)
    for a, c, s in zip(whole, chunked, serial):
        assert torch.equal(a, c) and torch.equal(a, s)


def test_col2im_is_caffes_loop():
    """torch's fold adds each pixel's entries in Caffe's col2im order (kernel row, then column)."""
    geom = caffe_conv.Geometry((2, 5, 6), (3, 2), (2, 1), (1, 1), (1, 2))
    cols = np.random.RandomState(0).randn(1, geom.rows, geom.oh * geom.ow).astype(np.float32) * 1e3
    ref = np.zeros((2, 5, 6), np.float32)
    for c in range(2):
        for i in range(3):
            for j in range(2):
                for y in range(geom.oh):
                    for x in range(geom.ow):
                        hy, wx = y * 2 - 1 + i, x - 1 + j * 2
                        if 0 <= hy < 5 and 0 <= wx < 6:
                            ref[c, hy, wx] = np.float32(ref[c, hy, wx] + cols[0, (c * 3 + i) * 2 + j, y * geom.ow + x])
    assert geom.col2im(cols)[0].numpy().tobytes() == ref.tobytes()


def test_a_second_forward_does_not_lend_its_columns_to_the_first():
    """The layer keeps one column buffer; a graph whose columns were overwritten makes them again."""
    x, w, b, geom = _case(seed=5)
    ws = caffe_conv.Workspace()
    xa, wa = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
    first = caffe_cpu.conv(xa, wa, b, **geom, workspace=ws)
    caffe_cpu.conv(torch.randn_like(x), w, b, **geom, workspace=ws)
    first.sum().backward()
    xs, wt = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
    caffe_cpu.conv(xs, wt, b, **geom).sum().backward()
    assert torch.equal(wa.grad, wt.grad) and torch.equal(xa.grad, xs.grad)


def test_without_numpys_openblas_the_sums_stay_within_rounding(monkeypatch):
    x, w, b, geom = _case(seed=7)
    exact = _grads(x, w, b, geom)
    monkeypatch.setattr(cblas, "available", lambda: False)
    for a, r in zip(_grads(x, w, b, geom), exact):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad", [np.zeros((2, 3, 4), np.float32)[:, :, ::2], np.zeros((3, 3), np.float64)])
def test_cblas_refuses_what_blas_cannot_read(bad):
    with pytest.raises(ValueError):
        cblas.accumulate_gemm(bad if bad.ndim == 3 else bad[None], np.zeros((1, 3, 3), np.float32),
                              np.zeros((3, 3), np.float32))


def test_a_forked_child_makes_its_own_helper_thread():
    """The parent's helper thread does not exist in a forked child: the child must not wait on it."""
    import multiprocessing

    x, w, b, geom = _case(seed=9, n=4)
    expect = _grads(x, w, b, geom)[0]  # the parent's helper thread now exists
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_forward_in_child, (x, w, b, geom)).get(timeout=60)
    assert torch.equal(got, expect)


def _forward_in_child(x, w, b, geom):
    torch.set_num_threads(2)
    return caffe_cpu.conv(x, w, b, **geom).detach()
