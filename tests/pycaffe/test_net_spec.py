"""NetSpec against real pycaffe: the specs of ``tests/fixtures/net_spec/specs.py`` (Caffe's own examples and
a net of corner cases) built with tunewiz give the NetParameter real pycaffe built, and print Caffe's text.

The fixtures (``make_fixture.py``, real BVLC Caffe 1.0): ``<spec>.pycaffe.prototxt`` is real pycaffe's
``str(n.to_proto())`` (protobuf 4.21's printer: a message's fields in its layout order, UTF-8 raw);
``<spec>.prototxt`` is that file as Caffe's C++ writes it back (fields in number order, octal escapes).
The message must equal real pycaffe's field for field; its text, Caffe's byte for byte.
"""
import importlib.util
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from google import protobuf
from google.protobuf import text_format

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.textprint import message_to_text
from tunewiz.engine.net.net import Net
from tunewiz.pycaffe import net_spec
from tunewiz.pycaffe.net_spec import NetSpec, layers as L, params as P, to_proto

FIX = Path(__file__).resolve().parents[1] / "fixtures"
_spec = importlib.util.spec_from_file_location("net_spec_specs", FIX / "net_spec" / "specs.py")
specs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(specs)

ORACLE_PROTOBUF = "4.21.12"  # the fixtures' real pycaffe printed with it
TUNEWIZ = SimpleNamespace(NetSpec=NetSpec, layers=L, params=P, to_proto=to_proto, TEST=caffe_pb2.TEST)


def _pycaffe(name: str) -> caffe_pb2.NetParameter:
    return text_format.Parse((FIX / "net_spec" / f"{name}.pycaffe.prototxt").read_text(), caffe_pb2.NetParameter())


def test_the_fixtures_cover_every_spec():
    made = {p.name.split(".")[0] for p in (FIX / "net_spec").glob("*.prototxt")}
    assert made == set(specs.SPECS) and len(made) >= 14


@pytest.mark.parametrize("name", sorted(specs.SPECS))
def test_spec_builds_real_pycaffes_net(name):
    net = specs.SPECS[name](TUNEWIZ)
    assert isinstance(net, caffe_pb2.NetParameter)
    real = _pycaffe(name)
    assert net == real  # every field, every repeated value in order, the layers in order
    assert net.SerializeToString(deterministic=True) == real.SerializeToString(deterministic=True)
    assert str(net) == str(real)  # what the user's f.write(str(n.to_proto())) writes, on any protobuf


@pytest.mark.parametrize("name", sorted(specs.SPECS))
def test_spec_prints_caffes_text(name):
    caffe_text = (FIX / "net_spec" / f"{name}.prototxt").read_text()
    net = specs.SPECS[name](TUNEWIZ)
    assert message_to_text(net) == caffe_text


@pytest.mark.parametrize("name", sorted(specs.SPECS))
def test_str_is_what_real_pycaffe_prints(name):
    """``str()`` is protobuf's printer, so its text follows the installed protobuf, for real pycaffe too."""
    net = specs.SPECS[name](TUNEWIZ)
    if protobuf.__version__ == ORACLE_PROTOBUF:
        assert str(net) == (FIX / "net_spec" / f"{name}.pycaffe.prototxt").read_text()
    elif int(protobuf.__version__.split(".")[0]) >= 5:
        # Caffe's C++ text, but for UTF-8 in strings: raw, where C++ writes octal escapes
        caffe_text = (FIX / "net_spec" / f"{name}.prototxt").read_text()
        assert str(net) == caffe_text.replace("\\303\\251", "\u00e9")
    else:
        pytest.skip(f"protobuf {protobuf.__version__}: its printer's order is its own (see the test above)")


def test_lenet_names_and_keyword_homes():
    net = specs.SPECS["lenet_train"](TUNEWIZ)
    assert [l.name for l in net.layer] == ["data", "conv1", "pool1", "conv2", "pool2", "fc1", "relu1", "score", "loss"]
    data, relu = net.layer[0], net.layer[6]
    assert list(data.top) == ["data", "label"] and data.data_param.backend == caffe_pb2.DataParameter.LMDB
    assert data.transform_param.scale == pytest.approx(1 / 255)
    assert list(relu.bottom) == list(relu.top) == ["fc1"]  # in place
    assert net.layer[1].convolution_param.weight_filler.type == "xavier"


def test_anonymous_names_count_per_type_in_visit_order():
    net = specs.SPECS["caffenet_test"](TUNEWIZ)
    assert [l.name for l in net.layer][:4] == ["Data1", "Convolution1", "ReLU1", "Pooling1"]
    assert [l.name for l in net.layer][-2:] == ["SoftmaxWithLoss1", "Accuracy1"]
    assert list(net.layer[2].top) == ["Convolution1"]


def test_ntop_zero_layer_takes_its_own_name_and_unassigned_layers_are_left_out():
    net = specs.SPECS["corners"](TUNEWIZ)
    silences = [l for l in net.layer if l.type == "Silence"]
    assert [(l.name, list(l.top)) for l in silences] == [("silent", [])]
    assert net.layer[3].name == "also_conv"  # a top assigned twice takes its last name


def test_keywords_fall_back_to_the_layer():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 2]))
    n.loss = L.EuclideanLoss(n.data, n.data, loss_weight=2, include=dict(phase=caffe_pb2.TRAIN))
    layer = n.to_proto().layer[1]
    assert list(layer.loss_weight) == [2] and layer.include[0].phase == caffe_pb2.TRAIN


def test_enums_and_tuples():
    assert P.Pooling.MAX == caffe_pb2.PoolingParameter.MAX and P.Data.LMDB == 1
    assert P.Filler.FAN_OUT == caffe_pb2.FillerParameter.FAN_OUT
    net = L.Input(shape=dict(dim=(1, 3, 5))).to_proto()
    assert list(net.layer[0].input_param.shape[0].dim) == [1, 3, 5]


def test_a_message_value_is_copied():
    filler = caffe_pb2.FillerParameter(type="gaussian", std=0.5)
    net = L.InnerProduct(L.Input(shape=dict(dim=[1, 2])), num_output=3, weight_filler=filler).to_proto()
    assert net.layer[1].inner_product_param.weight_filler == filler


@pytest.mark.parametrize("make,match", [
    (lambda d: L.Convolution(d, kernel_sise=3), r"layer 'Convolution1' \(Convolution\): no field 'kernel_sise' "
                                               r"in convolution_param or the layer"),
    (lambda d: L.Deconvolution(d, num_output=3), r"Deconvolution has no deconvolution_param: pass e\.g\. "
                                                 r"convolution_param"),
    (lambda d: L.relu(d), None),
    (lambda d: L.Relu(d, negative_slope=0.1), r"did you mean L\.ReLU\?"),
    (lambda d: L.Convolution(d, num_output=[3]), r"ConvolutionParameter\.num_output holds one value"),
    (lambda d: L.Convolution(d, weight_filler=dict(kind="x")), r"FillerParameter has no field 'kind'"),
])
def test_bad_keywords_are_one_clear_attribute_error(make, match):
    top = make(L.Input(shape=dict(dim=[1, 2])))
    if match is None:  # an unknown type with no keywords is Caffe's business, not the spec's
        assert top.to_proto().layer[1].type == "relu"
        return
    with pytest.raises(AttributeError, match=match):
        top.to_proto()


def test_bad_bottoms_names_and_enums():
    with pytest.raises(TypeError, match="Convolution input 0 is not a Top"):
        L.Convolution("data", kernel_size=3)
    n = NetSpec()
    assert not hasattr(n, "data")
    with pytest.raises(KeyError):
        n["data"]
    with pytest.raises(AttributeError, match="PoolingParameter has no value 'MAXX'"):
        P.Pooling.MAXX
    with pytest.raises(AttributeError, match="no message NopeParameter"):
        P.Nope.X


def test_param_name_dict_reads_the_schema():
    names = net_spec.param_name_dict()
    assert names["Convolution"] == "convolution" and names["Python"] == "python" and names["PReLU"] == "prelu"
    assert names["DummyData"] == "dummy_data" and names["Transformation"] == "transform"


def test_the_dummydata_lenet_trains_in_the_engine():
    """The spec is a net tunewiz builds: forward gives a finite loss, backward reaches conv1."""
    net = Net(specs.SPECS["dummy_lenet"](TUNEWIZ), "TRAIN", seed=3)
    generator = torch.Generator().manual_seed(0)
    blobs = net.forward({"data": torch.rand(64, 1, 28, 28, generator=generator),
                         "label": torch.randint(0, 10, (64, 1, 1, 1), generator=generator).float()})
    assert blobs["ip2"].shape == (64, 10) and math.isfinite(blobs["loss"].item())
    net.loss(blobs).backward()
    assert net.layer_by_name("conv1").blobs[0].grad.abs().sum() > 0


def test_the_lmdb_lenet_runs_on_real_data():
    """examples/01-learning-lenet's spec, pointed at a real LMDB: one batch through the engine."""
    source = FIX / "engine" / "training" / "data" / "train_lmdb"
    net = Net(specs.lenet(TUNEWIZ, str(source), 16), "TRAIN", seed=3)
    try:
        with torch.no_grad():
            blobs = net.forward()
    finally:
        net.close()
    assert blobs["data"].shape[0] == 16 and blobs["score"].shape == (16, 10)
    assert float(blobs["data"].max()) <= 1.0 and math.isfinite(blobs["loss"].item())


def test_the_package_gives_netspec_as_pycaffe_does():
    """``import tunewiz as caffe; from caffe import layers as L``-style names come from the package itself."""
    import tunewiz as caffe
    from tunewiz.pycaffe import net_spec

    assert (caffe.NetSpec, caffe.layers, caffe.params, caffe.to_proto) == (
        net_spec.NetSpec, net_spec.layers, net_spec.params, net_spec.to_proto)
    n = caffe.NetSpec()
    n.data = caffe.layers.Input(shape=dict(dim=[1, 2]))
    assert n.to_proto().layer[0].type == "Input"
