"""V1 -> current, data-transform, input and BatchNorm upgrades: every rule of Caffe's upgrade_proto."""
from __future__ import annotations

import pytest

from tunewiz.caffe import caffe_pb2, prototxt
from tunewiz.caffe.upgrade import net_needs_upgrade, upgrade_net_as_needed, upgrade_net_param, upgraded_copy
from tunewiz.caffe.upgrade_report import UpgradeError
from tunewiz.caffe.upgrade_v1 import SHARED_PARAMS, V1_TYPE_NAMES

V1 = caffe_pb2.V1LayerParameter


def parse(text: str) -> caffe_pb2.NetParameter:
    return prototxt.parse_text(text, caffe_pb2.NetParameter())


def test_type_table_covers_every_v1_enum_value():
    assert set(V1_TYPE_NAMES) == set(V1.LayerType.keys())
    for enum_name, type_name in V1_TYPE_NAMES.items():
        net = upgrade_net_param(parse(f'layers {{ name: "l" type: {enum_name} }}'))
        assert net.layer[0].type == type_name


def test_every_v1_param_submessage_is_copied():
    assert len(SHARED_PARAMS) == 30
    v1 = caffe_pb2.NetParameter()
    layer = v1.layers.add(name="all", type=V1.CONVOLUTION)
    for name in SHARED_PARAMS:
        getattr(layer, name).SetInParent()
    layer.convolution_param.num_output = 7
    layer.threshold_param.threshold = 0.25
    layer.loss_param.ignore_label = 3
    out = upgrade_net_param(v1).layer[0]
    for name in SHARED_PARAMS:
        assert out.HasField(name), name
        assert getattr(out, name) == getattr(layer, name)


def test_param_specs_position_by_position():
    net = upgrade_net_param(parse("""
      layers { name: "ip" type: INNER_PRODUCT bottom: "x" top: "y"
               param: "shared_w" param: "shared_b" blob_share_mode: PERMISSIVE
               blobs_lr: 3 weight_decay: 0 weight_decay: 0 weight_decay: 5
               loss_weight: 0.5 include { phase: TRAIN } exclude { stage: "deploy" } }
    """))
    layer = net.layer[0]
    assert len(layer.param) == 3
    p0, p1, p2 = layer.param
    assert (p0.name, p0.share_mode, p0.lr_mult, p0.decay_mult) == ("shared_w", caffe_pb2.ParamSpec.PERMISSIVE, 3, 0)
    assert p0.HasField("decay_mult") and p1.HasField("decay_mult")
    assert (p1.name, p1.HasField("share_mode"), p1.HasField("lr_mult"), p1.decay_mult) == ("shared_b", False, False, 0)
    assert (p2.HasField("name"), p2.decay_mult) == (False, 5)
    assert list(layer.loss_weight) == [0.5]
    assert layer.include[0].phase == caffe_pb2.TRAIN and list(layer.exclude[0].stage) == ["deploy"]


def test_blobs_copied_unchanged_legacy_dims_kept():
    net = caffe_pb2.NetParameter()
    blob = net.layers.add(name="ip", type=V1.INNER_PRODUCT).blobs.add(num=1, channels=1, height=2, width=3)
    blob.data.extend([1, 2, 3, 4, 5, 6])
    out = upgrade_net_param(net)
    assert out.layer[0].blobs[0] == blob and not out.layer[0].blobs[0].HasField("shape")


@pytest.mark.parametrize("enum_name, sub", [("DATA", "data_param"), ("IMAGE_DATA", "image_data_param"),
                                            ("WINDOW_DATA", "window_data_param")])
def test_data_transformation_fields_move(enum_name, sub):
    net = parse(f'layers {{ name: "d" type: {enum_name} top: "x" '
                f'{sub} {{ source: "s" scale: 0.5 mean_file: "m" crop_size: 3 mirror: false }} }}')
    report = upgrade_net_as_needed(net, "f")
    assert report.steps == ["data", "V1"]
    layer = net.layer[0]
    sub_msg = getattr(layer, sub)
    assert sub_msg.source == "s" and not any(sub_msg.HasField(f) for f in ("scale", "mean_file", "crop_size", "mirror"))
    t = layer.transform_param
    assert (t.scale, t.mean_file, t.crop_size, t.HasField("mirror"), t.mirror) == (0.5, "m", 3, True, False)


def test_data_fields_in_current_layers_are_left_alone_like_caffe():
    net = parse('layer { name: "d" type: "Data" top: "x" data_param { scale: 0.5 } }')
    assert not net_needs_upgrade(net)
    assert upgrade_net_as_needed(net).steps == []
    assert net.layer[0].data_param.scale == 0.5


def test_mixing_layer_and_layers_is_refused_with_caffes_reason():
    net = parse('layer { name: "a" type: "ReLU" } layers { name: "b" type: RELU }')
    before = net.SerializeToString()
    with pytest.raises(UpgradeError) as err:
        upgrade_net_as_needed(net, "mixed.prototxt")
    assert "mixed.prototxt" in str(err.value)
    assert "Input NetParameter to be upgraded already specifies 'layer' fields; these will be ignored" in str(err.value)
    assert net.SerializeToString() == before


def test_input_shape_becomes_input_layer_first():
    net = upgrade_net_param(parse("""
      input: "a" input: "b" input_shape { dim: 2 dim: 5 } input_shape { dim: 2 }
      layer { name: "r" type: "ReLU" bottom: "a" top: "c" }
    """))
    assert [layer.name for layer in net.layer] == ["input", "r"]
    assert list(net.layer[0].top) == ["a", "b"]
    assert [list(s.dim) for s in net.layer[0].input_param.shape] == [[2, 5], [2]]
    assert len(net.input) == 0 and len(net.input_shape) == 0


def test_input_without_dims_is_only_cleared():
    net = upgrade_net_param(parse('input: "data" layer { name: "r" type: "ReLU" }'))
    assert [layer.name for layer in net.layer] == ["r"] and len(net.input) == 0


def test_input_dim_count_mismatch_is_a_clear_error():
    with pytest.raises(UpgradeError, match="need 8 input_dim values"):
        upgrade_net_param(parse('input: "a" input: "b" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 4'), "x")


def test_batchnorm_three_params_get_zero_lr_and_decay_others_untouched():
    net = parse("""
      layer { name: "bn" type: "BatchNorm" param { lr_mult: 1 name: "m" } param { decay_mult: 2 } param { } }
      layer { name: "bn2" type: "BatchNorm" param { lr_mult: 1 } }
    """)
    report = upgrade_net_as_needed(net, "bn.prototxt")
    assert report.steps == ["batchnorm"]
    bn, bn2 = net.layer
    assert [(p.lr_mult, p.decay_mult, p.HasField("decay_mult")) for p in bn.param] == [(0, 0, True)] * 3
    assert bn.param[0].name == "m"
    assert bn2.param[0].lr_mult == 1 and not bn2.param[0].HasField("decay_mult")


def test_current_net_needs_nothing():
    net = parse('layer { name: "r" type: "ReLU" bottom: "x" top: "x" }')
    copy = caffe_pb2.NetParameter()
    copy.CopyFrom(net)
    report = upgrade_net_as_needed(net)
    assert report.steps == [] and report.notes == [] and report.source_format == "current" and net == copy


def test_upgraded_copy_leaves_the_original_as_written():
    """The one upgrade-a-copy helper (the engine, the recipe and caffemodels use it): the copy is
    upgraded with Caffe's notes, the caller's V1 message is unchanged, an error names the file once."""
    v1 = parse('layers { name: "r" type: RELU bottom: "x" top: "x" }')
    before = v1.SerializeToString()
    copy, report = upgraded_copy(v1, "old.prototxt")
    assert [(l.name, l.type) for l in copy.layer] == [("r", "ReLU")] and not copy.layers
    assert report.steps == ["V1"] and report.notes and v1.SerializeToString() == before
    current = parse('layer { name: "r" type: "ReLU" }')
    again, nothing = upgraded_copy(current)
    assert again == current and again is not current and nothing.steps == []
    mixed = parse('layer { name: "a" type: "ReLU" } layers { name: "b" type: RELU }')
    with pytest.raises(UpgradeError) as err:
        upgraded_copy(mixed, "mixed.prototxt")
    assert str(err.value).count("mixed.prototxt") == 1

