"""Write the benchmark nets the Model Zoo folders lack: a ResNet-50 and a MobileNet v1 deploy.prototxt.

Both are written with tunewiz's pycaffe-shaped ``NetSpec`` in the layout their Caffe releases use
(ResNet-50: 7x7/2 stem, bottleneck blocks 3-4-6-3 with 1x1/3x3/1x1 convolutions without bias, each
followed by BatchNorm + Scale, Eltwise SUM shortcuts, a 7x7 average pool and fc1000; MobileNet v1: a
3x3/2 stem and 13 depthwise (group = channels) + pointwise pairs, BatchNorm + Scale + ReLU after each,
global average pooling and a 1x1 convolution to 1000 classes), batch 1, 224x224.

    python bench/nets/make_nets.py        (writes resnet50_deploy.prototxt, mobilenet_v1_deploy.prototxt here)
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

import tunewiz as caffe  # noqa: E402
from tunewiz import layers as L  # noqa: E402

MSRA = dict(type="msra")


def conv_bn(n, name: str, bottom, num_output: int, kernel: int, stride: int = 1, group: int = 1,
            relu: bool = True):
    """Convolution (no bias) + BatchNorm + Scale (+ ReLU), in place after the convolution."""
    pad = kernel // 2
    top = L.Convolution(bottom, num_output=num_output, kernel_size=kernel, stride=stride, pad=pad, group=group,
                        bias_term=False, weight_filler=MSRA)
    setattr(n, name, top)
    setattr(n, f"{name}_bn", L.BatchNorm(top, in_place=True))
    setattr(n, f"{name}_scale", L.Scale(top, bias_term=True, in_place=True))
    if relu:
        setattr(n, f"{name}_relu", L.ReLU(top, in_place=True))
    return top


def resnet50(batch: int = 1, train: bool = False):
    """The deploy net (batch 1, a Softmax top) or, with ``train``, one to train: a label Input and
    SoftmaxWithLoss."""
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[batch, 3, 224, 224]))
    if train:
        n.label = L.Input(shape=dict(dim=[batch]))
    x = conv_bn(n, "conv1", n.data, 64, 7, 2)
    n.pool1 = x = L.Pooling(x, pool=0, kernel_size=3, stride=2)  # MAX
    channels = 64
    for stage, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=2):
        for b in range(blocks):
            name, stride = f"res{stage}{chr(ord('a') + b)}", (2 if b == 0 and stage > 2 else 1)
            if b == 0:
                shortcut = conv_bn(n, f"{name}_branch1", x, width * 4, 1, stride, relu=False)
            else:
                shortcut = x
            y = conv_bn(n, f"{name}_branch2a", x, width, 1, stride)
            y = conv_bn(n, f"{name}_branch2b", y, width, 3)
            y = conv_bn(n, f"{name}_branch2c", y, width * 4, 1, relu=False)
            x = L.Eltwise(shortcut, y)
            setattr(n, name, x)
            setattr(n, f"{name}_relu", L.ReLU(x, in_place=True))
        channels = width * 4
    n.pool5 = L.Pooling(x, pool=1, kernel_size=7, stride=1)  # AVE
    n.fc1000 = L.InnerProduct(n.pool5, num_output=1000, weight_filler=MSRA)
    if train:
        n.loss = L.SoftmaxWithLoss(n.fc1000, n.label)
    else:
        n.prob = L.Softmax(n.fc1000)
    assert channels == 2048
    return n.to_proto()


def mobilenet_v1():
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 224, 224]))
    x = conv_bn(n, "conv1", n.data, 32, 3, 2)
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    channels = 32
    for i, (out, stride) in enumerate(plan, start=2):
        x = conv_bn(n, f"conv{i}_dw", x, channels, 3, stride, group=channels)
        x = conv_bn(n, f"conv{i}_pw", x, out, 1)
        channels = out
    n.pool6 = L.Pooling(x, pool=1, global_pooling=True)  # AVE
    n.fc7 = L.Convolution(n.pool6, num_output=1000, kernel_size=1, weight_filler=MSRA)
    n.prob = L.Softmax(n.fc7)
    return n.to_proto()


def main() -> None:
    for name, make in (("resnet50_deploy.prototxt", resnet50), ("mobilenet_v1_deploy.prototxt", mobilenet_v1)):
        proto = make()
        proto.name = name.split("_deploy")[0]
        (HERE / name).write_text(f"# written by bench/nets/make_nets.py\n{proto}")
        print("wrote", HERE / name, len(proto.layer), "layers")


if __name__ == "__main__":
    main()
