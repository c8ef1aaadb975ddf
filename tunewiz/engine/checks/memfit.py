"""The memory a net needs, counted from its shapes on torch's ``meta`` device (nothing is allocated).

Memory model (float32, 4 bytes a value; the recipe's batch advisor, :mod:`tunewiz.recipe.batch`, uses it
too, so the advice and the trainer's check never disagree):

    fixed     = P * (1 weights + 1 gradients + h history)      P = param values (a shared blob once)
    per image = A * 2 (a value and its gradient)               A = values of all blobs for one image
    need(B)   = 4 * (fixed + B * per image) + reserve              (an in-place top counted once)

``h`` = the solver's history blobs per param: 1 for SGD, Nesterov, AdaGrad, RMSProp, 2 for AdaDelta and
Adam (what Caffe's ``.solverstate`` holds); 0 without a solver (``tunewiz time``: forward + backward).
Without backward (``tunewiz test``, ``forward``) there are no gradients: fixed = P, per image = A.
``reserve`` covers the CUDA context, cuDNN workspaces and allocator slack (512 MiB on a GPU, 0 on the
CPU).  Only ``SAFETY`` (90 %) of the free memory is planned for.

Data/ImageData layers also hold batches in host memory: ``prefetch`` batches ahead (Caffe's
``data_param.prefetch``, default 4) plus the one being handed out — :attr:`NetCount.host_per_image`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from tunewiz.engine.checks.memory import MiB, human

GPU_RESERVE = 512 * MiB
SAFETY = 0.9
HISTORY = {"SGD": 1, "Nesterov": 1, "AdaGrad": 1, "RMSProp": 1, "AdaDelta": 2, "Adam": 2}


@dataclass
class MemoryModel:
    """Counts from shape inference (values, not bytes); see the module docstring."""

    params: int
    activations_per_image: int
    history: int = 1
    reserve: int = GPU_RESERVE
    backward: bool = True

    @property
    def fixed_bytes(self) -> int:
        return 4 * self.params * ((2 + self.history) if self.backward else 1) + self.reserve

    @property
    def per_image_bytes(self) -> int:
        return 4 * self.activations_per_image * (2 if self.backward else 1)

    def need(self, batch: int) -> int:
        return self.fixed_bytes + batch * self.per_image_bytes

    def lines(self) -> list[str]:
        """The terms of the estimate, one per line."""
        if self.backward:
            kept = f"weights + gradients{f' + {self.history} history' if self.history else ''}"
            params = f"{self.params:,} values × ({kept}) = {human(4 * self.params * (2 + self.history))}"
            acts = (f"{self.activations_per_image:,} values per image × 2 (data + gradient) "
                    f"= {human(self.per_image_bytes)} per image")
        else:
            params = f"{self.params:,} values = {human(4 * self.params)}"
            acts = f"{self.activations_per_image:,} values per image = {human(self.per_image_bytes)} per image"
        lines = [f"parameters: {params}", f"activations: {acts}"]
        if self.reserve:
            lines.append(f"reserve (CUDA context, workspaces): {human(self.reserve)}")
        return lines


@dataclass
class NetCount:
    """What one net holds, counted on 'meta': the basis of every estimate."""

    name: str
    phase: str  # "TRAIN" / "TEST"
    params: int
    per_image: int  # A: values of all blobs for one item of the batch
    batch: int  # items per pass: the first data layer's first top, axis 0 (1 when there is none)
    data_layer: str  # that layer's name ('' when the net has no data layer)
    data_type: str  # its type as written (Data, ImageData, Input, DummyData)
    data_shape: tuple[int, ...] = ()
    host_per_image: float = 0.0  # bytes of the data layers' prefetch buffers per item

    def model(self, history: int = 0, reserve: int = 0, backward: bool = True) -> MemoryModel:
        return MemoryModel(self.params, self.per_image, history, reserve, backward)


def values_of(net) -> tuple[int, int]:
    """(P, A) of an engine Net: param values (shared blobs once) and blob values per image."""
    params = sum(info.param.numel() for info in net.learnable_params())
    per_image = 0
    for shape in net.blob_shapes.values():
        if shape and shape[0] > 0:
            per_image += math.prod(shape[1:]) if len(shape) > 1 else 1
    return int(params), int(per_image)


def count(net_param, root=None) -> NetCount | None:
    """The counts of ``net_param`` in the phase/level/stages of its ``state``; None when the net cannot be
    built on 'meta' or its data read (the real build then says what is wrong, once)."""
    from tunewiz.engine.checks.datafit_probe import build_at, read_sources
    from tunewiz.engine.net.net import prepare

    st = net_param.state
    try:
        prepared = prepare(net_param, st.phase, st.level)
        sources = read_sources(prepared, prepared.state.phase, root)
    except Exception:  # noqa: BLE001 - the build reports a net that cannot be prepared or read
        return None
    if sources is None:
        return None
    inputs = {s.index: (s.chw[0], *((s.crop, s.crop) if s.crop else s.chw[1:])) for s in sources}
    net, _ = build_at(prepared, sources, inputs)
    if net is None:
        return None
    params, per_image = values_of(net)
    types = {lp.name: lp.type for lp in prepared.layer}
    batch, name, shape = 1, "", ()
    for layer, wiring in zip(net.layers, net.wirings):
        if layer.is_data and wiring.tops:
            shape = tuple(int(d) for d in net.blob_shapes[wiring.tops[0]])
            batch, name = (shape[0] if shape and shape[0] > 0 else 1), layer.name
            break
    host = 0
    for src in sources:  # prefetch batches + the one handed out, of every top (label included)
        c, h, w = inputs[src.index]
        values = c * h * w + (1 if len(src.layer.top) > 1 else 0)
        host += 4 * values * (max(1, src.layer.data_param.prefetch) + 1) * src.batch
    return NetCount(net.name or "unnamed", "TRAIN" if prepared.state.phase == 0 else "TEST", params, per_image,
                    batch, name, types.get(name, ""), shape, host / batch)


def largest_fit(fixed: float, per_image: float, budget: float) -> int:
    """The largest batch B with fixed + B * per_image <= budget (0: not even one; a huge one when per_image
    is 0)."""
    if fixed > budget:
        return 0
    if per_image <= 0:
        return 1 << 62
    return int((budget - fixed) // per_image)
