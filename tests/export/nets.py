"""Small deploys for the export round trips: a CaffeNet-shaped net and a net of the other layers tunewiz
exports (the ResNet block comes from ``tests/recipe/resnet_style.py``, LeNet from the bundled sample)."""
from __future__ import annotations

_INPUT = 'layer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ dim: 1 dim: {c} dim: {h} dim: {w} }} }} }}\n'


def _layer(name: str, kind: str, bottoms, tops, body: str = "") -> str:
    bottoms = [bottoms] if isinstance(bottoms, str) else bottoms
    tops = [tops] if isinstance(tops, str) else tops
    wiring = " ".join([f'bottom: "{b}"' for b in bottoms] + [f'top: "{t}"' for t in tops])
    return f'layer {{ name: "{name}" type: "{kind}" {wiring} {body} }}\n'


def _conv(name: str, bottom: str, out: int, k: int, extra: str = "") -> str:
    return _layer(name, "Convolution", bottom, name,
                  f'convolution_param {{ num_output: {out} kernel_size: {k} {extra} '
                  'weight_filler { type: "gaussian" std: 0.1 } bias_filler { type: "constant" value: 0.1 } }')


def _fc(name: str, bottom: str, out: int, extra: str = "") -> str:
    return _layer(name, "InnerProduct", bottom, name,
                  f'inner_product_param {{ num_output: {out} {extra} '
                  'weight_filler { type: "gaussian" std: 0.1 } bias_filler { type: "constant" value: 0.1 } }')


def caffenet_small() -> str:
    """CaffeNet's layout on a 35x35 input: the pools hit Caffe's ceil edge (16 -> 8 where floor gives 7;
    an AVE pool with padding whose last window hangs past the padded edge), LRN across and within
    channels, group convolution, Dropout, Softmax."""
    text = 'name: "CaffeNetSmall"\n' + _INPUT.format(c=3, h=35, w=35)
    text += _conv("conv1", "data", 8, 5, "stride: 2")  # 35 -> 16
    text += _layer("relu1", "ReLU", "conv1", "conv1")
    text += _layer("pool1", "Pooling", "conv1", "pool1", "pooling_param { pool: MAX kernel_size: 3 stride: 2 }")
    text += _layer("norm1", "LRN", "pool1", "norm1", "lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }")
    text += _conv("conv2", "norm1", 16, 3, "pad: 1 group: 2")
    text += _layer("relu2", "ReLU", "conv2", "conv2")
    text += _layer("pool2", "Pooling", "conv2", "pool2", "pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }")
    text += _layer("norm2", "LRN", "pool2", "norm2",
                   "lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 norm_region: WITHIN_CHANNEL }")
    text += _conv("conv3", "norm2", 12, 3, "pad: 1 group: 2")
    text += _layer("relu3", "ReLU", "conv3", "conv3")
    text += _layer("pool5", "Pooling", "conv3", "pool5", "pooling_param { pool: MAX kernel_size: 2 stride: 2 }")
    text += _fc("fc6", "pool5", 32)
    text += _layer("relu6", "ReLU", "fc6", "fc6")
    text += _layer("drop6", "Dropout", "fc6", "fc6", "dropout_param { dropout_ratio: 0.5 }")
    text += _fc("fc7", "fc6", 10)
    text += _layer("prob", "Softmax", "fc7", "prob")
    return text


def layer_mix() -> str:
    """Two inputs and the other layers a deploy may hold: Deconvolution (group), PReLU, Eltwise SUM with
    coeffs / PROD / MAX, Concat, Scale and Bias, Power, Slice, Flatten, Reshape, InnerProduct on axis 2,
    Softmax over axis 2, MVN, Crop, the neurons."""
    text = 'name: "LayerMix"\n' + _INPUT.format(c=4, h=6, w=6)
    text += _INPUT.format(c=4, h=6, w=6).replace('"data"', '"extra"')
    text += _layer("up", "Deconvolution", "data", "up", 'convolution_param { num_output: 4 kernel_size: 2 stride: 2 '
                   'group: 2 weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "constant" value: 0.1 } }')
    text += _layer("prelu", "PReLU", "up", "up", 'prelu_param { filler { type: "uniform" min: 0.1 max: 0.4 } }')
    text += _layer("down", "Pooling", "up", "down", "pooling_param { pool: AVE kernel_size: 2 stride: 2 }")
    text += _layer("sum", "Eltwise", ["down", "data"], "sum", "eltwise_param { operation: SUM coeff: 0.5 coeff: -2 }")
    text += _layer("prod", "Eltwise", ["sum", "extra"], "prod", "eltwise_param { operation: PROD }")
    text += _layer("max", "Eltwise", ["prod", "data", "extra"], "max", "eltwise_param { operation: MAX }")
    text += _layer("cat", "Concat", ["max", "sum"], "cat")
    text += _layer("scale", "Scale", "cat", "cat", 'scale_param { bias_term: true filler { type: "uniform" min: 0.5 '
                   'max: 1.5 } bias_filler { type: "uniform" min: -1 max: 1 } }')
    text += _layer("bias", "Bias", "cat", "cat", 'bias_param { filler { type: "uniform" min: -1 max: 1 } }')
    text += _layer("power", "Power", "cat", "power", "power_param { power: 2 scale: 0.5 shift: 1 }")
    text += _layer("sig", "Sigmoid", "power", "sig")
    text += _layer("tanh", "TanH", "cat", "tanh")
    text += _layer("elu", "ELU", "tanh", "elu", "elu_param { alpha: 0.7 }")
    text += _layer("abs", "AbsVal", "max", "abs")
    text += _layer("bnll", "BNLL", "abs", "bnll")
    text += _layer("mvn", "MVN", "bnll", "mvn")
    text += _layer("crop", "Crop", ["mvn", "data"], "crop", "crop_param { axis: 2 offset: 1 }".replace(
        "offset: 1", "offset: 0"))
    text += _layer("slice", "Slice", "sig", ["sig_a", "sig_b"], "slice_param { axis: 1 slice_point: 3 }")
    text += _layer("flat", "Flatten", "sig_a", "flat")
    text += _fc("fc_flat", "flat", 7)
    text += _layer("shape", "Reshape", "sig_b", "shaped", "reshape_param { shape { dim: 0 dim: 0 dim: -1 } }")
    text += _fc("fc_axis2", "shaped", 5, "axis: 2")
    text += _layer("soft", "Softmax", "fc_axis2", "soft", "softmax_param { axis: 2 }")
    text += _layer("cat2", "Concat", ["elu", "crop"], "cat2")
    return text


def resnet_block() -> str:
    """One ResNet block of ``tests/recipe/resnet_style.py`` on a 9x9 input: BatchNorm, Scale, Eltwise SUM."""
    from tests.recipe.resnet_style import resnet_deploy

    text = resnet_deploy(side=9, blocks=1, width=4, classes=5)
    fc = "inner_product_param { num_output: 5 }"
    assert fc in text
    return text.replace(fc, 'inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.5 } '
                            'bias_filler { type: "constant" value: 0.1 } }')


def spp_filter_mix() -> str:
    """SPP (MAX and AVE, 3 levels on 7x9: pads that do not divide), Im2col, Parameter (Scale's factor),
    Filter (its selector an input) and an InnerProduct after it."""
    text = 'name: "SppFilterMix"\n' + _INPUT.format(c=3, h=7, w=9)
    text += 'layer { name: "sel" type: "Input" top: "sel" input_param { shape { dim: 1 dim: 1 } } }\n'
    text += _layer("factor", "Parameter", [], "factor", "parameter_param { shape { dim: 3 } }")
    text += _layer("scaled", "Scale", ["data", "factor"], "scaled", "scale_param { axis: 1 }")
    text += _layer("spp_max", "SPP", "scaled", "spp_max", "spp_param { pyramid_height: 3 pool: MAX }")
    text += _layer("spp_ave", "SPP", "scaled", "spp_ave", "spp_param { pyramid_height: 3 pool: AVE }")
    text += _layer("cols", "Im2col", "scaled", "cols", "convolution_param { kernel_h: 2 kernel_w: 3 stride: 2 "
                   "pad: 1 dilation: 2 }")
    text += _layer("filter", "Filter", ["scaled", "sel"], "kept")
    text += _fc("fc", "kept", 5)
    return text


def write_net(folder, name: str, text: str, seed: int = 3):
    """``name.prototxt`` and ``name.caffemodel`` in ``folder``: filler weights, BatchNorm statistics stored
    with a scale factor of 2.5 (as Caffe keeps them after training), Scale blobs away from 1 and 0."""
    import torch

    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import save_caffemodel

    model = folder / f"{name}.prototxt"
    model.write_text(text)
    net = Net(read_net(model), "TEST", seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in net.layers:
            if layer.param.type == "BatchNorm":
                mean, var, factor = layer.blobs
                mean.copy_(torch.randn(mean.shape, generator=generator) * 2.5)
                var.copy_((torch.rand(var.shape, generator=generator) + 0.5) * 2.5)
                factor.fill_(2.5)
            elif layer.param.type in ("Scale", "Parameter"):
                for blob in layer.blobs:
                    blob.copy_(torch.rand(blob.shape, generator=generator) + 0.5)
    weights = folder / f"{name}.caffemodel"
    save_caffemodel(net, weights)
    return model, weights


def forward(model, weights, arrays: dict):
    """tunewiz's forward (Caffe's CPU order, as ``tunewiz forward``): every blob by name, as numpy."""
    import torch

    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.net.weights import copy_trained_layers

    net = Net(read_net(model), "TEST", numerics="caffe")
    copy_trained_layers(net, str(weights))
    with torch.no_grad():
        blobs = net.forward({k: torch.from_numpy(v) for k, v in arrays.items()})
    return {k: v.numpy() for k, v in blobs.items()}


def max_rel(got, want) -> float:
    """``max |got - want| / max |want|`` (the export's own measure)."""
    import numpy as np

    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    return float(np.abs(got - want).max() / np.abs(want).max())
