"""A small ResNet-style deploy (Convolution + BatchNorm + Scale + ReLU, Eltwise shortcuts, global pooling, fc,
Softmax), written here the way the released ResNet deploys are laid out, for the deploy-only tests."""
from __future__ import annotations


def _conv_bn(name: str, bottom: str, out: int, k: int, stride: int = 1, relu: bool = True) -> str:
    pad = k // 2
    text = (f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}"\n'
            f'  convolution_param {{ num_output: {out} kernel_size: {k} pad: {pad} stride: {stride} '
            f'bias_term: false weight_filler {{ type: "msra" }} }} }}\n'
            f'layer {{ name: "bn_{name}" type: "BatchNorm" bottom: "{name}" top: "{name}"\n'
            f'  batch_norm_param {{ use_global_stats: true }} }}\n'
            f'layer {{ name: "scale_{name}" type: "Scale" bottom: "{name}" top: "{name}"\n'
            f'  scale_param {{ bias_term: true }} }}\n')
    if relu:
        text += f'layer {{ name: "{name}_relu" type: "ReLU" bottom: "{name}" top: "{name}" }}\n'
    return text


def resnet_deploy(side: int = 32, blocks: int = 2, width: int = 8, classes: int = 1000) -> str:
    text = (f'name: "ResNetStyle"\nlayer {{ name: "data" type: "Input" top: "data"\n'
            f'  input_param {{ shape {{ dim: 1 dim: 3 dim: {side} dim: {side} }} }} }}\n')
    text += _conv_bn("conv1", "data", width, 3)
    bottom = "conv1"
    for b in range(blocks):
        a = f"res{b}a"
        text += _conv_bn(a, bottom, width, 3)
        text += _conv_bn(f"res{b}b", a, width, 3, relu=False)
        text += (f'layer {{ name: "res{b}" type: "Eltwise" bottom: "{bottom}" bottom: "res{b}b" top: "res{b}" }}\n'
                 f'layer {{ name: "res{b}_relu" type: "ReLU" bottom: "res{b}" top: "res{b}" }}\n')
        bottom = f"res{b}"
    text += (f'layer {{ name: "pool5" type: "Pooling" bottom: "{bottom}" top: "pool5"\n'
             f'  pooling_param {{ pool: AVE global_pooling: true }} }}\n'
             f'layer {{ name: "fc{classes}" type: "InnerProduct" bottom: "pool5" top: "fc{classes}"\n'
             f'  inner_product_param {{ num_output: {classes} }} }}\n'
             f'layer {{ name: "prob" type: "Softmax" bottom: "fc{classes}" top: "prob" }}\n')
    return text
