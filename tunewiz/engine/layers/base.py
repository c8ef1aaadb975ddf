"""The ``Layer`` base class every family builds on, ``@register`` and the errors layers raise.

The contract every layer keeps (Caffe's ``LayerSetUp`` + ``Reshape`` in one):

* ``__init__(param, bottom_shapes, phase, device)`` reads its ``*_param``, checks the
  bottoms, creates its parameter blobs in Caffe's order in ``self.blobs`` (an
  ``nn.ParameterList``; shapes exactly as Caffe's, fillers as Caffe's) and sets
  ``self.top_shapes`` — so shapes are known without running data (``device="meta"``
  builds a net with no real memory for shape inference).
* ``forward(*bottoms)`` returns a tuple of tops, differentiable with autograd
  (gradients must equal Caffe's Backward; a layer overrides autograd where they differ).
* ``context`` (keyword, optional) carries what the net knows beyond the layer: ``seed``
  and ``root`` (for data feeds), ``numerics``; it is set before ``setup`` runs.
* the engine is chosen once set up, as Caffe's ``layer_factory.cpp`` picks CAFFE or CUDNN:
  :meth:`Layer.choose_engine` stores in ``self.run`` the forward the net calls — with
  ``numerics="caffe"`` on the CPU the layer's :meth:`Layer.caffe_cpu_forward` (Caffe's own
  summation order, ``kernels.caffe_cpu``) where it has one, torch's ``forward`` otherwise.
* ``allow_force_backward(i)`` is Caffe's ``AllowForceBackward``: loss layers refuse
  bottom 1 (the label) unless they override it.
* ``fixed_lr_mult``: when not None, every blob of the layer gets this lr_mult (BatchNorm: 0).

``@register("Convolution", ...)`` only names the Caffe types a class implements; the table
from type to class is built by ``registry`` from its explicit list of family modules.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.layers.kernels.fillers import fill
from tunewiz.errors import TunewizError

Shape = tuple[int, ...]
#: the values of ``numerics``: Caffe's CPU summation order, or torch's kernels
NUMERICS = ("caffe", "torch")


class UnsupportedLayerError(TunewizError):
    """A net names a layer type tunewiz does not implement."""


class NetError(TunewizError):
    """A net that cannot work as written (names the layer and the fix)."""


def register(*type_names: str) -> Callable[[type["Layer"]], type["Layer"]]:
    """Class decorator: the class implements these Caffe ``type`` names (read by ``registry``)."""

    def deco(cls: type["Layer"]) -> type["Layer"]:
        cls.type_names = type_names
        return cls

    return deco


def check_numerics(numerics: str) -> str:
    if numerics not in NUMERICS:
        raise ValueError(f"numerics {numerics!r}: use 'caffe' or 'torch'")
    return numerics


class Layer(nn.Module):
    """Base class of every Caffe layer on PyTorch (see the module docstring)."""

    type_names: Sequence[str] = ()
    #: data layers produce tops from a reader, not from bottoms
    is_data = False
    #: loss layers: their tops count with loss_weight 1 unless told otherwise
    is_loss = False
    #: lr_mult forced on every blob (Caffe's BatchNorm forces 0); None = from the ParamSpec
    fixed_lr_mult: float | None = None
    #: the tops' item count (axis 0) follows the bottoms' values, not their shapes (Filter); the setup's
    #: top shapes hold every item, as Caffe's first Reshape
    items_from_values = False

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
        self.choose_engine(self.context.get("numerics", "torch"))

    # -- to override -----------------------------------------------------------------
    def setup(self, bottom_shapes: list[Shape]) -> list[Shape]:
        """Check bottoms, create blobs, return top shapes."""
        raise NotImplementedError

    def forward(self, *bottoms: torch.Tensor) -> tuple[torch.Tensor, ...]:  # pragma: no cover
        raise NotImplementedError

    def caffe_cpu_forward(self) -> Callable | None:
        """This layer's forward in Caffe's CPU summation order, as set up, or None where torch's
        kernels are kept (they give Caffe's values already, or the case has no Caffe-order path)."""
        return None

    def allow_force_backward(self, bottom_index: int) -> bool:
        """Caffe's AllowForceBackward: loss layers refuse bottom 1 (the label) by default."""
        return not (self.is_loss and bottom_index == 1)

    # -- the engine --------------------------------------------------------------------
    def choose_engine(self, numerics: str) -> str:
        """Store in ``self.run`` the forward this layer runs: Caffe's CPU order with ``numerics``
        "caffe" on a CPU layer that has one, torch's kernels otherwise.  Returns the engine chosen
        ("caffe" or "torch")."""
        exact = None
        if check_numerics(numerics) == "caffe" and self.device.type == "cpu":
            exact = self.caffe_cpu_forward()
        self.engine = "torch" if exact is None else "caffe"
        self.run = self.forward if exact is None else exact
        return self.engine

    # -- helpers ---------------------------------------------------------------------
    def fail(self, reason: str) -> NetError:
        """An error naming this layer (raise the result)."""
        return NetError(f"layer '{self.name}' ({self.param.type}): {reason}")

    def canonical_axis(self, axis: int, ndim: int, field: str = "axis") -> int:
        """Caffe's ``CanonicalAxisIndex``: ``-ndim <= axis < ndim``, a negative axis counts from the end."""
        if not -ndim <= axis < max(ndim, 1) or (ndim == 0 and axis != 0):
            raise self.fail(f"{field} {axis} is out of range for a {ndim}-axis bottom")
        return axis + ndim if axis < 0 else axis

    def add_blob(self, shape: Sequence[int], filler: caffe_pb2.FillerParameter | None = None) -> nn.Parameter:
        """Create a parameter blob of ``shape``, filled with ``filler`` (Caffe's default: constant 0)."""
        data = torch.empty(tuple(int(d) for d in shape), dtype=torch.float32, device=self.device)
        if self.device.type != "meta":
            fill(data, filler if filler is not None else caffe_pb2.FillerParameter())
        blob = nn.Parameter(data)
        self.blobs.append(blob)
        return blob
