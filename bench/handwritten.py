"""Hand-written PyTorch twins of the benchmark nets, the yardstick the engine is measured against.

``CaffeNet`` and ``LeNet`` are ``bench/forward_backward.py``'s; ``ResNet50`` is the net
``bench/nets/make_nets.py`` writes (7x7/2 stem, bottlenecks 3-4-6-3 without conv bias, BatchNorm with
an affine Scale, projection shortcuts on each stage's first block, 7x7 average pool, fc1000).  Each
takes ``(images, labels)`` and returns the mean softmax loss.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forward_backward import CaffeNet, LeNet  # noqa: E402

__all__ = ["CaffeNet", "LeNet", "ResNet50"]


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class _Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        self.a, self.b = _conv_bn(cin, width, 1, stride), _conv_bn(width, width, 3)
        self.c = _conv_bn(width, width * 4, 1)
        self.short = _conv_bn(cin, width * 4, 1, stride) if stride != 1 or cin != width * 4 else None

    def forward(self, x):
        y = self.c(F.relu(self.b(F.relu(self.a(x)))))
        return F.relu(y + (self.short(x) if self.short is not None else x))


class ResNet50(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        self.stem = _conv_bn(3, 64, 7, 2)
        blocks, cin = [], 64
        for stage, (count, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512))):
            for i in range(count):
                blocks.append(_Bottleneck(cin, width, 2 if i == 0 and stage > 0 else 1))
                cin = width * 4
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(2048, classes)

    def forward(self, x, label):
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2, ceil_mode=True)
        x = F.avg_pool2d(self.blocks(x), 7).flatten(1)
        return F.cross_entropy(self.fc(x), label)
