"""One view over a net's layers, whether the file is V2 (``layer``) or V1 (``layers``).

The recipe edits the copy in the form the user wrote it, so a V1 file stays V1 when
written back (``blobs_lr``/``weight_decay`` instead of ``param { lr_mult decay_mult }``)
and the diff against the source shows only what the recipe changed.  V0 files
(``layers { layer { ... } }``) must be upgraded first (``tunewiz upgrade-net-text``).

Caffe's rule for parameter multipliers (``Net::AppendParam``): blob *i* of a layer
uses ``param[i]`` when it exists, else ``lr_mult = 1, decay_mult = 1``.  In V1,
``blobs_lr[i]`` / ``weight_decay[i]`` play the same role (``UpgradeV1LayerParameter``
turns each into ``param[i].lr_mult`` / ``param[i].decay_mult``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.upgrade_v1 import V1_TYPE_NAMES
from tunewiz.errors import TunewizError

V1 = caffe_pb2.V1LayerParameter
_V1_TYPES = V1_TYPE_NAMES  # Caffe's UpgradeV1LayerType table, one copy

# Layer types whose learnable blobs the recipe knows how to count (Caffe's LayerSetUp).
_WITH_BIAS = {"Convolution": "convolution_param", "Deconvolution": "convolution_param",
              "InnerProduct": "inner_product_param", "Embed": "embed_param"}
# RNN and LSTM: (blobs without a static input, recurrent state blobs exposed by expose_hidden)
_RECURRENT = {"RNN": (5, 1), "LSTM": (3, 2)}
DATA_TYPES = {"Data", "ImageData", "HDF5Data", "MemoryData", "WindowData", "DummyData", "Input", "Python"}


class RecipeError(TunewizError):
    """A fine-tune edit that cannot be made as asked (names the layer and the fix)."""


@dataclass
class LayerRef:
    """A layer of the net (V2 ``LayerParameter`` or V1 ``V1LayerParameter``) and its index."""

    index: int
    msg: object
    v1: bool

    @property
    def name(self) -> str:
        return self.msg.name

    @property
    def type(self) -> str:
        if self.v1:
            return _V1_TYPES.get(V1.LayerType.Name(self.msg.type), V1.LayerType.Name(self.msg.type))
        return self.msg.type

    @property
    def bottoms(self) -> list[str]:
        return list(self.msg.bottom)

    @property
    def tops(self) -> list[str]:
        return list(self.msg.top)

    def in_phase(self, phase: int | None) -> bool:
        """Caffe's ``StateMeetsRule`` for include/exclude on the phase only (None = any)."""
        if phase is None:
            return True
        if self.msg.include:
            return any((not r.HasField("phase")) or r.phase == phase for r in self.msg.include)
        return not any(r.HasField("phase") and r.phase == phase for r in self.msg.exclude)

    def phases(self) -> str:
        names = [caffe_pb2.Phase.Name(r.phase) for r in self.msg.include if r.HasField("phase")]
        return "/".join(names) if names else "all"

    # --- learnable blobs -------------------------------------------------------------
    def n_param_blobs(self) -> int:
        """How many learnable blobs Caffe creates for this layer (0 when none / unknown)."""
        t = self.type
        if t in _WITH_BIAS:
            sub = getattr(self.msg, _WITH_BIAS[t], None)
            return 1 + int(sub is None or sub.bias_term)
        if t == "Scale":
            return 1 + int(self.msg.scale_param.bias_term)
        if t == "BatchNorm":
            return 3
        if t in ("PReLU", "Bias"):
            return 1
        if t in _RECURRENT:
            return self._recurrent_blobs()
        return len(self.msg.blobs) or (len(self.msg.blobs_lr) if self.v1 else len(self.msg.param))

    def _recurrent_blobs(self) -> int:
        """RNN: W_xh, b_h, [W_xh_static], W_hh, W_ho, b_o; LSTM: W_xc, b_c, [W_xc_static], W_hc.  The static
        input is there when the layer has a bottom beyond x, cont and (with expose_hidden) the initial state."""
        plain, states = _RECURRENT[self.type]
        exposed = states if self.msg.recurrent_param.expose_hidden else 0
        return plain + int(len(self.msg.bottom) > 2 + exposed)

    def multipliers(self) -> list[tuple[float, float]]:
        """(lr_mult, decay_mult) per learnable blob, Caffe's defaults filled in."""
        n = self.n_param_blobs()
        out = []
        for i in range(n):
            if self.v1:
                lr = self.msg.blobs_lr[i] if i < len(self.msg.blobs_lr) else 1.0
                dm = self.msg.weight_decay[i] if i < len(self.msg.weight_decay) else 1.0
            else:
                spec = self.msg.param[i] if i < len(self.msg.param) else None
                lr = spec.lr_mult if spec is not None else 1.0
                dm = spec.decay_mult if spec is not None else 1.0
            out.append((float(lr), float(dm)))
        return out

    def set_multipliers(self, mults: list[tuple[float, float]]) -> None:
        """Write (lr_mult, decay_mult) for blobs 0..len-1, keeping other ParamSpec fields."""
        if self.v1:
            lrs, dms = list(self.msg.blobs_lr), list(self.msg.weight_decay)
            for i, (lr, dm) in enumerate(mults):
                _put(lrs, i, lr)
                _put(dms, i, dm)
            del self.msg.blobs_lr[:], self.msg.weight_decay[:]
            self.msg.blobs_lr.extend(lrs)
            self.msg.weight_decay.extend(dms)
            return
        while len(self.msg.param) < len(mults):
            self.msg.param.add()
        for spec, (lr, dm) in zip(self.msg.param, mults):
            spec.lr_mult, spec.decay_mult = lr, dm

    def raw_multipliers(self):
        """A copy of the written multiplier fields, for restoring them exactly."""
        if self.v1:
            return list(self.msg.blobs_lr), list(self.msg.weight_decay)
        return [caffe_pb2.ParamSpec().FromString(p.SerializeToString()) for p in self.msg.param]

    def restore_multipliers(self, raw) -> None:
        if self.v1:
            del self.msg.blobs_lr[:], self.msg.weight_decay[:]
            self.msg.blobs_lr.extend(raw[0])
            self.msg.weight_decay.extend(raw[1])
            return
        del self.msg.param[:]
        for p in raw:
            self.msg.param.add().CopyFrom(p)

    # --- output size -------------------------------------------------------------------
    def output_param(self):
        """The sub-message holding ``num_output`` (inner_product / convolution), or None."""
        field = {"InnerProduct": "inner_product_param", "Convolution": "convolution_param",
                 "Deconvolution": "convolution_param"}.get(self.type)
        return getattr(self.msg, field) if field else None


def _put(values: list, i: int, v: float) -> None:
    while len(values) <= i:
        values.append(1.0)
    values[i] = v


def is_v1(net: caffe_pb2.NetParameter) -> bool:
    """True for a V1 file (``layers { type: CONVOLUTION }``)."""
    return len(net.layers) > 0


def check_editable(net: caffe_pb2.NetParameter, path: str = "net") -> None:
    """V0 files and files mixing ``layer`` and ``layers`` cannot be edited in place."""
    if net.layer and net.layers:
        raise RecipeError(f"{path}: the file mixes 'layer' and 'layers' entries; "
                          f"run 'tunewiz upgrade-net-text {path} OUT' and edit the upgraded file")
    if any(l.HasField("layer") for l in net.layers):
        raise RecipeError(f"{path}: this is a V0 net (layers {{ layer {{ ... }} }}); "
                          f"run 'tunewiz upgrade-net-text {path} OUT' first")


def layers_of(net: caffe_pb2.NetParameter, phase: int | None = None) -> list[LayerRef]:
    """The net's layers in file order (optionally only those in ``phase``)."""
    v1 = is_v1(net)
    seq = net.layers if v1 else net.layer
    refs = [LayerRef(i, m, v1) for i, m in enumerate(seq)]
    return [r for r in refs if r.in_phase(phase)]


def iter_named(net: caffe_pb2.NetParameter, name: str) -> Iterator[LayerRef]:
    """Every layer called ``name`` (a train_val file may have one per phase)."""
    return (r for r in layers_of(net) if r.name == name)


def param_layer_names(net: caffe_pb2.NetParameter) -> list[str]:
    """Names of layers with learnable blobs, in first-appearance order, no repeats."""
    seen: list[str] = []
    for r in layers_of(net):
        if r.n_param_blobs() and r.name not in seen:
            seen.append(r.name)
    return seen


def clone(net):
    """A deep copy of a protobuf message."""
    out = type(net)()
    out.CopyFrom(net)
    return out
