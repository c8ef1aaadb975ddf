"""Which layers of a net run fused in the prepared inference path (names and flags only, no tensors).

A forward-only pass needs no layer's intermediate results for a backward, so a convolution can absorb the
layers after it, as an inference engine does (OpenCV's dnn, TensorRT):

* a BatchNorm with global statistics and a Scale on axis 1 (one value per channel) become the
  convolution's weights and bias: ``W' = W * s / sqrt(var + eps)``, ``b' = (b - mean) * s / sqrt(var + eps) + beta``;
* an Eltwise SUM of the convolution and a blob computed before it (a ResNet shortcut) is added in the same
  kernel, then a ReLU (negative_slope 0) is applied there too;
* an InnerProduct absorbs a ReLU after it.

A layer joins a chain only when it is the one reader of the chain's current top (that version of the blob:
in-place layers rewrite a name), and the blob it hides is rewritten in place or is not asked for (``keep``:
pycaffe keeps every blob; ``classify`` only its output).  Split layers and TEST-phase Dropout hand their
bottom on; every other layer runs its own torch forward.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from tunewiz.caffe import caffe_pb2

TEST = caffe_pb2.TEST
SUM = caffe_pb2.EltwiseParameter.SUM
ACROSS = caffe_pb2.LRNParameter.ACROSS_CHANNELS


@dataclass(frozen=True)
class Step:
    """One call of the prepared forward: what it runs, which blobs it reads and writes."""

    kind: str                   # "data", "alias", "conv", "ip", "lrn", "pool" or "layer"
    index: int                  # the engine layer it starts from
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    folded: tuple[int, ...] = ()   # BatchNorm / Scale layers folded into the convolution
    relu: bool = False             # a ReLU applied in the same kernel
    add: str | None = None         # the blob an Eltwise SUM adds to the convolution (before the ReLU)
    fused: tuple[int, ...] = ()    # every engine layer the step stands for after ``index``


def _readers(wirings) -> dict[tuple[str, int], list[int]]:
    """(blob, the layer that wrote this version of it, -1 for none) -> the layers reading that version."""
    last: dict[str, int] = {}
    reads: dict[tuple[str, int], list[int]] = defaultdict(list)
    for j, w in enumerate(wirings):
        for b in w.bottoms:
            reads[(b, last.get(b, -1))].append(j)
        for t in w.tops:
            last[t] = j
    return reads


def _writer(wirings, name: str, before: int) -> int:
    """The last layer before ``before`` that wrote ``name`` (-1: none)."""
    return next((j for j in range(before - 1, -1, -1) if name in wirings[j].tops), -1)


class _Chain:
    """A convolution or inner product growing over the layers after it."""

    def __init__(self, index: int, wiring):
        self.index, self.top, self.writer = index, wiring.tops[0], index
        self.folded: list[int] = []
        self.fused: list[int] = []
        self.relu, self.add = False, None

    def takes(self, j: int, wiring, reads, keep) -> bool:
        """Whether layer ``j`` may join: it reads the current top, alone, and hides nothing kept."""
        if self.top not in wiring.bottoms or reads[(self.top, self.writer)] != [j] or len(wiring.tops) != 1:
            return False
        return wiring.tops[0] == self.top or self.top not in keep

    def join(self, j: int, wiring) -> None:
        self.fused.append(j)
        self.top, self.writer = wiring.tops[0], j


def _foldable(layer, kind: str) -> bool:
    if kind == "BatchNorm":
        return bool(layer.use_global_stats)
    if kind == "Scale":
        return not layer.two_bottoms and layer.axis == 1 and tuple(layer.blobs[0].shape) == (layer.bottom_shapes[0][1],)
    return False


def _shortcut(chain: _Chain, j: int, layer, wiring, wirings) -> str | None:
    """The other bottom of an Eltwise SUM (coefficients 1) that was computed before the convolution."""
    if wiring.type != "Eltwise" or layer.operation != SUM or len(wiring.bottoms) != 2 or any(c != 1 for c in layer.coeff):
        return None
    others = [b for b in wiring.bottoms if b != chain.top]
    if len(others) != 1 or wiring.bottoms.count(chain.top) != 1:
        return None
    writer = _writer(wirings, others[0], j)
    return others[0] if writer < chain.index else None


def _grow(chain: _Chain, layers, wirings, reads, keep, conv: bool) -> None:
    """Extend the chain over the layers that follow it while they may join."""
    j = chain.index + 1
    while j < len(layers):
        layer, wiring = layers[j], wirings[j]
        if not chain.takes(j, wiring, reads, keep) or chain.relu:
            return
        if wiring.type == "ReLU" and layer.param.relu_param.negative_slope == 0:
            chain.relu = True
        elif conv and chain.add is None and _foldable(layer, wiring.type) and all(k in chain.folded for k in chain.fused):
            chain.folded.append(j)
        elif conv and chain.add is None and (other := _shortcut(chain, j, layer, wiring, wirings)) is not None:
            chain.add = other
        else:
            return
        chain.join(j, wiring)
        j += 1


def _chain_step(kind: str, chain: _Chain, wiring) -> Step:
    bottoms = tuple(wiring.bottoms) + ((chain.add,) if chain.add else ())
    return Step(kind, chain.index, bottoms, (chain.top,), tuple(chain.folded), chain.relu, chain.add,
                tuple(chain.fused))


def _single(i: int, layer, wiring) -> Step:
    kind = "layer"
    if layer.is_data:
        kind = "data"
    elif wiring.type == "Split" or (wiring.type == "Dropout" and layer.phase == TEST):
        kind = "alias"
    elif wiring.type == "LRN" and layer.region == ACROSS:
        kind = "lrn"
    elif wiring.type == "Pooling":
        kind = "pool"
    return Step(kind, i, tuple(wiring.bottoms), tuple(wiring.tops))


def _is_conv(layer, wiring) -> bool:
    return wiring.type == "Convolution" and layer.n_spatial == 2 and len(wiring.bottoms) == 1


def _is_ip(layer, wiring) -> bool:
    return wiring.type == "InnerProduct" and layer.axis == 1 and not layer.transpose


def plan(layers, wirings, keep=frozenset()) -> list[Step]:
    """The steps of a forward-only pass over ``layers`` (engine layers) wired by ``wirings``."""
    reads, steps, done = _readers(wirings), [], set()
    for i, (layer, wiring) in enumerate(zip(layers, wirings)):
        if i in done:
            continue
        conv = _is_conv(layer, wiring)
        if conv or _is_ip(layer, wiring):
            chain = _Chain(i, wiring)
            _grow(chain, layers, wirings, reads, keep, conv)
            done.update(chain.fused)
            steps.append(_chain_step("conv" if conv else "ip", chain, wiring))
        else:
            steps.append(_single(i, layer, wiring))
    return steps
