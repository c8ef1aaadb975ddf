"""Round trips: ONNX (onnxruntime) and the pt2 (torch.export.load) against tunewiz's forward, batches 1 and 3,
for LeNet (the bundled sample), a CaffeNet-shaped net, a BatchNorm/Scale/Eltwise ResNet block and a net of
the other layers a deploy holds; every output within 1e-4 relative."""
from __future__ import annotations

import numpy as np
import pytest

from tests.export import nets
from tunewiz.export.run import Targets, export_files
from tunewiz.sample_models import LENET_DIGITS

onnxruntime = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

NETS = ["lenet", "caffenet_small", "resnet_block", "layer_mix"]
#: blobs inside the nets returned as well, so that each layer kind is compared before a Softmax evens it out
INNER = {"caffenet_small": ["pool1", "norm1", "pool2", "norm2", "pool5", "fc7"], "resnet_block": ["res0", "fc5"],
         "layer_mix": ["down", "max", "cat", "mvn", "shaped"]}


@pytest.fixture(scope="module", params=NETS)
def exported(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "lenet":
        model, weights = LENET_DIGITS / "lenet_deploy.prototxt", LENET_DIGITS / "lenet_digits04.caffemodel"
    else:
        model, weights = nets.write_net(folder, request.param, getattr(nets, request.param)())
    targets = Targets(onnx=str(folder / "net.onnx"), torch=str(folder / "net.pt2"), state_dict=str(folder / "net.pt"))
    outputs = INNER.get(request.param, []) + _outputs(model)
    written = export_files(str(model), str(weights), targets, outputs)
    return model, weights, folder, written, outputs


def _inputs(model, batch: int, seed: int) -> dict:
    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.net.net import Net

    net = Net(read_net(model), "TEST", device="meta")
    generator = np.random.default_rng(seed)
    names = [t for layer, w in zip(net.layers, net.wirings) if layer.param.type == "Input" for t in w.tops]
    return {n: generator.standard_normal((batch, *net.blob_shapes[n][1:])).astype(np.float32) for n in names}


def _outputs(model) -> list[str]:
    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.net.net import Net

    return Net(read_net(model), "TEST", device="meta").output_names


@pytest.mark.parametrize("batch", [1, 3])
def test_onnx_and_pt2_agree_with_tunewiz_forward(exported, batch):
    model, weights, folder, written, outputs = exported
    arrays = _inputs(model, batch, seed=batch)
    ref = nets.forward(model, weights, arrays)
    session = onnxruntime.InferenceSession(str(folder / "net.onnx"), providers=["CPUExecutionProvider"])
    got_onnx = session.run(outputs, arrays)
    program = torch.export.load(str(folder / "net.pt2"))
    got_pt2 = program.module()(*[torch.from_numpy(a) for a in arrays.values()])
    for name, onnx_value, pt2_value in zip(outputs, got_onnx, got_pt2):
        assert onnx_value.shape[0] == batch
        assert nets.max_rel(onnx_value, ref[name]) <= 1e-4, name
        assert nets.max_rel(pt2_value.detach().numpy(), ref[name]) <= 1e-4, name


def test_each_file_reports_its_check(exported):
    _, _, folder, written, _ = exported
    assert [w.kind for w in written] == ["state-dict", "torch", "onnx"]
    for w in written[1:]:
        assert w.agreement.ok and w.agreement.max_rel <= 1e-4
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_the_caffenet_shaped_net_hits_the_ceil_edge(tmp_path):
    """Its pools round up where floor would not (16 -> 8, not 7; AVE 8 -> 5 with a window past the pad)."""
    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.net.net import Net

    model, _ = nets.write_net(tmp_path, "c", nets.caffenet_small())
    shapes = Net(read_net(model), "TEST", device="meta").blob_shapes
    assert shapes["pool1"][2:] == (8, 8) and shapes["conv1"][2:] == (16, 16)
    assert shapes["pool2"][2:] == (5, 5)


def test_spp_im2col_parameter_and_filter_export(tmp_path):
    """SPP (AVE through the portable pooling), Im2col, a Parameter as Scale's factor, and Filter, whose item
    count follows its selector: the files keep the items tunewiz keeps, also none or some of them."""
    text = nets.spp_filter_mix()
    model, weights = nets.write_net(tmp_path, "m", text)
    outputs = ["spp_max", "spp_ave", "cols", "kept", "fc"]
    export_files(str(model), str(weights), Targets(onnx=str(tmp_path / "m.onnx"), torch=str(tmp_path / "m.pt2")),
                 outputs)
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    program = torch.export.load(str(tmp_path / "m.pt2")).module()
    data = np.random.default_rng(7).standard_normal((4, 3, 7, 9)).astype(np.float32)
    for keep in ([1, 0, 0, 1], [0, 0, 0, 0], [0, 2, -1, 0.5]):
        arrays = {"data": data, "sel": np.array(keep, np.float32).reshape(4, 1)}
        ref = nets.forward(model, weights, arrays)
        assert ref["kept"].shape[0] == np.count_nonzero(keep)
        got_pt2 = program(*[torch.from_numpy(a) for a in arrays.values()])
        for name, onnx_value, pt2_value in zip(outputs, session.run(outputs, arrays), got_pt2):
            assert onnx_value.shape == pt2_value.shape == ref[name].shape, name
            if ref[name].size:  # none kept: empty blobs, equal by their shapes
                assert nets.max_rel(onnx_value, ref[name]) <= 1e-4, name
                assert nets.max_rel(pt2_value.detach().numpy(), ref[name]) <= 1e-4, name
