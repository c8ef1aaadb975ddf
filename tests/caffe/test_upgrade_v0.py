"""V0 nets (nested V0LayerParameter) -> current, following Caffe's UpgradeV0Net rules."""
from __future__ import annotations

from pathlib import Path

import pytest

from tunewiz.caffe import caffe_pb2, prototxt
from tunewiz.caffe.upgrade import net_format, upgrade_net_as_needed
from tunewiz.caffe.upgrade_report import UpgradeError
from tunewiz.caffe.upgrade_v0 import V0_TYPES, upgrade_v0_net

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "upgrade"


def parse(text: str) -> caffe_pb2.NetParameter:
    return prototxt.parse_text(text, caffe_pb2.NetParameter())


def _raise(text):
    raise UpgradeError(text)


def test_v0_net_full_upgrade_matches_hand_derived_result():
    net = prototxt.read_net_text(FIX / "v0_net.prototxt")
    assert net_format(net) == "V0"
    report = upgrade_net_as_needed(net, "v0_net.prototxt")
    assert report.steps == ["V0", "V1", "input"] and report.success
    expected = prototxt.read_net_text(FIX / "v0_net.expected.prototxt")
    assert prototxt.to_text(net) == prototxt.to_text(expected)
    texts = [n.text for n in report.notes]
    assert texts[0] == "Attempting to upgrade input file specified using deprecated V0LayerParameter: v0_net.prototxt"
    assert texts[1] == "Successfully upgraded file specified using deprecated V0LayerParameter"
    assert report.notes[2].level == "warning" and "will not support V0NetParameter" in texts[2]


def test_padding_layer_folds_into_every_conv_that_reads_it():
    net = parse("""
      layers { layer { name: "d" type: "data" } top: "data" }
      layers { layer { name: "p" type: "padding" pad: 3 } bottom: "data" top: "p" }
      layers { layer { name: "c1" type: "conv" num_output: 2 } bottom: "p" top: "c1" }
      layers { layer { name: "c2" type: "pool" kernelsize: 2 } bottom: "p" top: "c2" }
    """)
    out, ok = upgrade_v0_net(net, _raise, _raise)
    assert ok and [layer.name for layer in out.layers] == ["d", "c1", "c2"]
    assert list(out.layers[1].bottom) == ["data"] and list(out.layers[1].convolution_param.pad) == [3]
    assert list(out.layers[2].bottom) == ["data"] and out.layers[2].pooling_param.pad == 3


def test_v0_keeps_only_name_inputs_and_force_backward():
    net = parse('name: "n" input: "x" input_dim: 1 input_dim: 1 input_dim: 2 input_dim: 2 '
                'debug_info: true layers { layer { name: "r" type: "relu" } bottom: "x" top: "x" '
                'include { phase: TEST } }')
    out, ok = upgrade_v0_net(net, _raise, _raise)
    assert ok and not out.HasField("debug_info")
    assert list(out.input) == ["x"] and list(out.input_dim) == [1, 1, 2, 2]
    assert len(out.layers[0].include) == 0  # only bottom/top of the connection are kept


def test_every_v0_type_maps_to_a_v1_enum():
    for v0_name, enum_name in V0_TYPES.items():
        net = parse(f'layers {{ layer {{ name: "l" type: "{v0_name}" }} }}')
        out, _ = upgrade_v0_net(net, _raise, _raise)
        assert caffe_pb2.V1LayerParameter.LayerType.Name(out.layers[0].type) == enum_name
    assert len(V0_TYPES) == 24


def test_setting_on_wrong_layer_type_is_caffes_error_and_dropped():
    net = parse('layers { layer { name: "r" type: "relu" num_output: 3 shuffle_images: true } '
                'bottom: "x" top: "x" } input: "x"')
    report = upgrade_net_as_needed(net, "bad.prototxt")
    assert not report.success
    errors = [n.text for n in report.notes if n.level == "error"]
    assert errors == [
        "Unknown parameter num_output for layer type relu",
        "Unknown parameter shuffle for layer type relu",
        "Warning: had one or more problems upgrading V0NetParameter to NetParameter (see above); continuing anyway.",
    ]
    relu = next(layer for layer in net.layer if layer.name == "r")
    assert relu.type == "ReLU" and not relu.HasField("inner_product_param")


@pytest.mark.parametrize("text, reason", [
    ('layers { layer { name: "q" type: "quux" } }', "Unknown layer name: quux"),
    ('layers { layer { name: "r" type: "relu" } bottom: "nowhere" }', "Unknown blob input nowhere to layer 0"),
    ('layers { layer { name: "d" type: "data" } top: "data" } '
     'layers { layer { name: "p" type: "padding" pad: 1 } bottom: "data" top: "p" } '
     'layers { layer { name: "r" type: "relu" } bottom: "p" top: "r" }',
     "Padding layer input to non-convolutional / non-pooling layer type relu"),
])
def test_caffe_fatal_v0_cases_raise(text, reason):
    with pytest.raises(UpgradeError) as err:
        upgrade_net_as_needed(parse(text), "v0.prototxt")
    assert str(err.value) == f"v0.prototxt: {reason}"
