"""pycaffe's ``Net.forward`` of a net that needs no backward, on the prepared inference path.

A deploy net (no loss, no ``force_backward``) has nothing for a backward to compute, as in Caffe, so its
whole-net forward on the CPU runs :mod:`tunewiz.engine.inference` with every blob kept (pycaffe shows them
all): BatchNorm/Scale folded into the convolution when they work in place on its top, fused ReLU, packed
weights.  The blobs get their values lazily (``Blob.store_later``).  ``caffe.set_forward_numerics("caffe")``
keeps Caffe's summation order instead.

The prepared net holds copies of the weights.  Writes through a param's numpy array (net surgery) are not
seen by torch, so each forward compares the params whose arrays were handed out with what the prepared net
was made from, and makes it again when one differs.
"""
from __future__ import annotations

import torch

from tunewiz.engine.inference import forget, prepared
from tunewiz.pycaffe import mode


def usable(net, start: int, end: int) -> bool:
    """Whether the forward over ``start``..``end`` runs here: the whole net, on the CPU, needing no backward."""
    engine = net._engine
    return (mode.forward_numerics() == "torch" and start == 0 and end == len(engine.layers) - 1
            and engine.device.type == "cpu" and engine.precision == "fp32"
            and not any(w.need_backward for w in engine.wirings))


def _check_weights(net) -> None:
    """Forget the prepared net when a param written through its numpy array differs from what it was made of."""
    seen = net.__dict__.setdefault("_weights_seen", {})
    exposed = [blob for blob in net._param_blobs() if blob.exposed]
    if any(id(blob) not in seen or not torch.equal(seen[id(blob)], blob._data) for blob in exposed):
        forget(net._engine)
        seen.clear()
        seen.update((id(blob), blob._data.clone()) for blob in exposed)


def forward(net, done, input_tops: list[str]):
    """The whole-net forward from the blobs ``input_tops`` name: every top stored (lazily) in its blob; fills
    ``done`` (a ``passes.Pass``)."""
    engine = net._engine
    _check_weights(net)
    inputs = {t: net.blobs[t].tensor(engine.device) for t in input_tops}
    with torch.no_grad():
        values = prepared(engine, net.blobs).run(inputs)
    for i, wiring in enumerate(engine.wirings):
        done.bottoms[i] = [values[b] for b in wiring.bottoms]
        done.tops[i] = [values[t] for t in wiring.tops]
    for name, value in values.items():
        net.blobs[name].store_later(value)
    return done
