"""The layer registry: one string-keyed table from Caffe's ``type`` to a layer class.

Layer families live one per module of ``tunewiz.engine.layers`` and register themselves with
``@register("Convolution", ...)``.  :func:`layer_class` raises an error listing the
known types when a net names one we do not have (Python layers, a fork's layer).

The contract every layer keeps (Caffe's ``LayerSetUp`` + ``Reshape`` in one):

* ``__init__(param, bottom_shapes, phase, device)`` reads its ``*_param``, checks the
  bottoms, creates its parameter blobs in Caffe's order in ``self.blobs`` (an
  ``nn.ParameterList``; shapes exactly as Caffe's, fillers as Caffe's) and sets
  ``self.top_shapes`` — so shapes are known without running data (``device="meta"``
  builds a net with no real memory for shape inference).
* ``forward(*bottoms)`` returns a tuple of tops, differentiable with autograd
  (gradients must equal Caffe's Backward; a layer overrides autograd where they differ).
* ``context`` (keyword, optional) carries what the net knows beyond the layer: ``seed``
  and ``root`` (for data feeds); it is set before ``setup`` runs.
* ``allow_force_backward(i)`` is Caffe's ``AllowForceBackward``: loss layers refuse
  bottom 1 (the label) unless they override it.
* ``fixed_lr_mult``: when not None, every blob of the layer gets this lr_mult (BatchNorm: 0).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from tunewiz.caffe import caffe_pb2
from tunewiz.errors import TunewizError

Shape = tuple[int, ...]

LAYERS: dict[str, type["Layer"]] = {}


class UnsupportedLayerError(TunewizError):
    """A net names a layer type tunewiz does not implement."""


class NetError(TunewizError):
    """A net that cannot work as written (names the layer and the fix)."""


def register(*type_names: str) -> Callable[[type["Layer"]], type["Layer"]]:
    """Class decorator: make the class the implementation of Caffe ``type`` names."""

    def deco(cls: type["Layer"]) -> type["Layer"]:
        for name in type_names:
            if name in LAYERS and LAYERS[name] is not cls:
                raise RuntimeError(f"layer type {name!r} registered twice")
            LAYERS[name] = cls
        cls.type_names = type_names
        return cls

    return deco


def known_types() -> list[str]:
    _load_families()
    return sorted(LAYERS)


def layer_class(type_name: str, layer_name: str = "?") -> type["Layer"]:
    """The class for a Caffe layer type, or a clear error listing the supported ones."""
    _load_families()
    try:
        return LAYERS[type_name]
    except KeyError:
        hint = ""
        if type_name == "Python":
            hint = " Python layers run user code inside Caffe and cannot be carried over;"
            hint += " replace the layer with built-in layers."
        raise UnsupportedLayerError(
            f"layer '{layer_name}' has type '{type_name}', which tunewiz does not support.{hint}"
            f" Supported types: {', '.join(sorted(LAYERS))}."
        ) from None


_FAMILIES = (
    "tunewiz.engine.layers.vision",
    "tunewiz.engine.layers.activation",
    "tunewiz.engine.layers.norm",
    "tunewiz.engine.layers.scale",
    "tunewiz.engine.layers.shape",
    "tunewiz.engine.layers.reduce",
    "tunewiz.engine.layers.math",
    "tunewiz.engine.layers.loss_softmax",
    "tunewiz.engine.layers.loss_pointwise",
    "tunewiz.engine.layers.data",
)


_loaded = False


def _load_families() -> None:
    """Import every ``tunewiz.engine.layers_*`` module once (each registers its layers)."""
    global _loaded
    if _loaded:
        return
    import importlib
    import pkgutil

    import tunewiz.engine as engine

    found = [f"tunewiz.engine.{m.name}" for m in pkgutil.iter_modules(engine.__path__)
             if m.name.startswith("layers_")]
    for module in sorted(set(_FAMILIES) | set(found)):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    _loaded = True


class Layer(nn.Module):
    """Base class of every Caffe layer on PyTorch (see the module docstring)."""

    type_names: Sequence[str] = ()
    #: data layers produce tops from a reader, not from bottoms
    is_data = False
    #: loss layers: their tops count with loss_weight 1 unless told otherwise
    is_loss = False
    #: lr_mult forced on every blob (Caffe's BatchNorm forces 0); None = from the ParamSpec
    fixed_lr_mult: float | None = None

    def __init__(self, param: caffe_pb2.LayerParameter, bottom_shapes: Sequence[Shape],
                 phase: int = caffe_pb2.TRAIN, device: torch.device | str = "cpu",
                 *, context: dict | None = None):
        super().__init__()
        self.context = dict(context or {})
        self.param = param
        self.name = param.name
        self.phase = phase
        self.device = torch.device(device)
        self.blobs = nn.ParameterList()
        self.bottom_shapes = [tuple(int(d) for d in s) for s in bottom_shapes]
        self.top_shapes: list[Shape] = list(self.setup(self.bottom_shapes))

    # -- to override -----------------------------------------------------------------
    def setup(self, bottom_shapes: list[Shape]) -> list[Shape]:
        """Check bottoms, create blobs, return top shapes."""
        raise NotImplementedError

    def forward(self, *bottoms: torch.Tensor) -> tuple[torch.Tensor, ...]:  # pragma: no cover
        raise NotImplementedError

    def allow_force_backward(self, bottom_index: int) -> bool:
        """Caffe's AllowForceBackward: loss layers refuse bottom 1 (the label) by default."""
        return not (self.is_loss and bottom_index == 1)

    # -- helpers ---------------------------------------------------------------------
    def fail(self, reason: str) -> NetError:
        """An error naming this layer (raise the result)."""
        return NetError(f"layer '{self.name}' ({self.param.type}): {reason}")

    def add_blob(self, shape: Sequence[int], filler: caffe_pb2.FillerParameter | None = None) -> nn.Parameter:
        """Create a parameter blob of ``shape``, filled with ``filler`` (Caffe's default: constant 0)."""
        from tunewiz.engine.layers.kernels.fillers import fill

        data = torch.empty(tuple(int(d) for d in shape), dtype=torch.float32, device=self.device)
        if self.device.type != "meta":
            fill(data, filler if filler is not None else caffe_pb2.FillerParameter())
        blob = nn.Parameter(data)
        self.blobs.append(blob)
        return blob
