"""Python layers: ``type: "Python"`` runs a user's class, as Caffe's ``python_layer.hpp`` and pycaffe do.

``python_param { module: "m" layer: "Cls" param_str: "..." }``: the module is imported from
``sys.path`` only (Caffe's rule: put its folder on ``PYTHONPATH``; the prototxt's folder is not
searched), and ``Cls(layer_param)`` must subclass :class:`PythonLayer` (``tunewiz.Layer`` /
``caffe.Layer``).  ``share_in_parallel`` is accepted and ignored (one process, one instance per net).

What the instance sees, as in Caffe:

* ``self.param_str`` and ``self.phase`` (0 TRAIN, 1 TEST, Caffe's values) are set before ``setup``;
* at construction ``setup(bottom, top)`` then ``reshape(bottom, top)`` run once on host blobs
  (:class:`NumpyBlob`: ``.data``/``.diff`` writable float32 numpy arrays, ``.shape``, ``.count``,
  ``.num/.channels/.height/.width``, ``.reshape(*dims)``) whose bottoms hold zeros, as a fresh Caffe
  blob reads; the tops' shapes after ``reshape`` are the layer's top shapes.  A net built on the
  ``meta`` device (shape inference) does exactly the same: the user's code needs real arrays, and
  it runs the same way whatever device the net is on;
* every forward calls ``reshape`` then ``forward`` (Caffe's ``Layer::Forward``), on copies of the
  bottoms on the host; the tops go back to the net's device;
* backward is a ``torch.autograd.Function``: the tops' diffs are the gradients that reach them
  (for a loss top: its ``loss_weight``), ``propagate_down[i]`` says whether bottom ``i`` needs a
  gradient, and what ``backward`` writes into ``bottom[i].diff`` flows on through the net.

A Python layer is a loss only through ``loss_weight`` (Caffe's default for it is 0), and a data
layer when it has no bottoms (its tops can then be given from outside, like any data layer's).
A missing module or class, or user code that raises, is one :class:`PythonLayerError` naming the
layer, ``module.class`` and (for an import) the ``sys.path`` searched.

Learnable blobs (pycaffe's ``self.blobs.add_blob(*dims)`` in ``setup``) are the layer's parameters:
what ``setup`` writes into their ``data`` becomes their initial value, their ``data`` is refreshed
from the parameter before each forward (the solver updates the parameter, not the numpy copy), and
what ``backward`` writes into their ``diff`` is their gradient (added over ``iter_size``, as Caffe's).
"""
from __future__ import annotations

import importlib
import math
import sys
import traceback

import numpy as np
import torch

from tunewiz.engine.layers.base import Layer, NetError, register


class PythonLayerError(NetError, RuntimeError):
    """A Python layer's module, class or code failed (a RuntimeError, as pycaffe raises)."""


class NumpyBlob:
    """A Caffe blob on the host as pycaffe shows it: ``data`` and ``diff`` are float32 arrays of ``shape``."""

    def __init__(self, shape=()):
        self._data = np.zeros(tuple(int(d) for d in shape), np.float32)
        self._diff = np.zeros_like(self._data)

    @property
    def data(self) -> np.ndarray:
        return self._data

    @property
    def diff(self) -> np.ndarray:
        return self._diff

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._data.shape)

    @property
    def count(self) -> int:
        return math.prod(self._data.shape)

    def _legacy(self, index: int) -> int:
        """Caffe's ``LegacyShape``: axes past the blob's count as 1."""
        shape = self._data.shape
        return int(shape[index]) if -len(shape) <= index < len(shape) else 1

    num = property(lambda self: self._legacy(0))
    channels = property(lambda self: self._legacy(1))
    height = property(lambda self: self._legacy(2))
    width = property(lambda self: self._legacy(3))

    def reshape(self, *dims: int) -> None:
        """New shape; the values are kept when the count is unchanged (zeros otherwise)."""
        shape = tuple(int(d) for d in dims)
        if any(d < 0 for d in shape):
            raise ValueError(f"blob dimensions must be >= 0, got {list(shape)}")
        if shape == self.shape:
            return
        if math.prod(shape) == self.count:
            self._data, self._diff = self._data.reshape(shape), self._diff.reshape(shape)
        else:
            self._data, self._diff = np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def set_data(self, values) -> None:
        """Take the values (and shape) of a bottom."""
        values = np.asarray(values, np.float32)
        self.reshape(*values.shape)
        self._data[...] = values

    def __repr__(self) -> str:
        return f"<blob {list(self.shape)}>"


class LayerBlobs(list):
    """pycaffe's ``self.blobs``: the layer's learnable blobs; ``add_blob(*dims)`` makes one (zeros, as a
    fresh Caffe blob), a parameter of the net like any layer's (lr_mult, sharing, caffemodels)."""

    def __init__(self, layer: "Python | None" = None):
        super().__init__()
        self.layer = layer

    def add_blob(self, *dims: int) -> NumpyBlob:
        if self.layer is None:
            raise RuntimeError("add_blob works once the layer is in a net (in setup)")
        self.layer.add_blob(dims)
        self.append(NumpyBlob(dims))
        return self[-1]


class PythonLayer:
    """Base class of a user's Python layer (pycaffe's ``caffe.Layer``): override ``setup``,
    ``reshape``, ``forward`` and ``backward``; ``param_str`` and ``phase`` are set before ``setup``."""

    def __init__(self, param=None):
        self.param_str = ""
        self.phase = 0
        self.blobs = LayerBlobs()

    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        raise NotImplementedError(f"{type(self).__name__} has no forward(bottom, top)")

    def backward(self, top, propagate_down, bottom):
        raise NotImplementedError(f"{type(self).__name__} has no backward(top, propagate_down, bottom)")


def _where(exc: BaseException, prefer: str | None = None) -> str:
    """Where a user's exception was raised, ``file:line``: the innermost frame in ``prefer`` (the user's
    module) when there is one, else the innermost frame, so the message points at their code."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if prefer and f.filename == prefer]
    frame = (mine or frames or [None])[-1]
    return f" (at {frame.filename}:{frame.lineno})" if frame else ""


class _PythonFunction(torch.autograd.Function):
    """The user's forward and backward as one autograd node; the layer object is the first input."""

    @staticmethod
    def forward(ctx, layer, n_bottoms, *inputs):
        ctx.layer, ctx.n_bottoms = layer, n_bottoms
        ctx.shapes = [t.shape for t in inputs]
        return layer.python_forward(inputs[:n_bottoms])

    @staticmethod
    def backward(ctx, *top_grads):
        needs = list(ctx.needs_input_grad[2:])
        diffs = ctx.layer.python_backward(top_grads, needs[:ctx.n_bottoms], needs[ctx.n_bottoms:])
        return (None, None, *[None if d is None else d.reshape(s) for d, s in zip(diffs, ctx.shapes)])


@register("Python")
class Python(Layer):
    """Caffe's PythonLayer: a user's :class:`PythonLayer` subclass on host blobs (see the module docstring)."""

    def setup(self, bottom_shapes):
        p = self.param.python_param
        self.where = f"{p.module}.{p.layer}"
        self.user = self._instantiate(p)
        self.user.param_str = p.param_str
        self.user.phase = int(self.phase)
        self.user.blobs = LayerBlobs(self)
        self.is_data = not bottom_shapes
        self.bottom_blobs = [NumpyBlob(s) for s in bottom_shapes]
        self.top_blobs = self._top_blobs()
        self._call("setup", self.bottom_blobs, self.top_blobs)
        self._call("reshape", self.bottom_blobs, self.top_blobs)
        if self.device.type != "meta":
            for param, blob in zip(self.blobs, self.user.blobs):
                param.data.copy_(torch.from_numpy(blob.data).reshape(param.shape))
        return [b.shape for b in self.top_blobs]

    def _top_blobs(self) -> list[NumpyBlob]:
        """One blob per top; an in-place top is its bottom's blob, as in Caffe."""
        bottoms = list(self.param.bottom)
        return [self.bottom_blobs[bottoms.index(t)] if t in bottoms else NumpyBlob() for t in self.param.top]

    def _instantiate(self, p) -> PythonLayer:
        if not p.module or not p.layer:
            raise self._error("python_param needs both 'module' and 'layer' (the class name)")
        try:
            module = importlib.import_module(p.module)
        except ImportError as exc:
            if exc.name and (p.module == exc.name or p.module.startswith(exc.name + ".")):
                raise self._error(f"cannot import module '{p.module}' ({exc}); put its folder on PYTHONPATH, "
                                  f"as Caffe needs. sys.path searched: {sys.path}") from None
            raise self._error(f"importing module '{p.module}' failed: {exc}{_where(exc)}") from None
        except Exception as exc:  # the user's module itself raised while importing
            raise self._error(f"importing module '{p.module}' failed: {type(exc).__name__}: {exc}{_where(exc)}") \
                from None
        cls = getattr(module, p.layer, None)
        if cls is None:
            raise self._error(f"module '{p.module}' ({getattr(module, '__file__', '?')}) has no class "
                              f"'{p.layer}'. sys.path searched: {sys.path}")
        if not (isinstance(cls, type) and issubclass(cls, PythonLayer)):
            raise self._error(f"'{p.layer}' must be a class that subclasses caffe.Layer (tunewiz.Layer)")
        return self._call(cls, self.param)

    def _error(self, reason: str) -> PythonLayerError:
        return PythonLayerError(f"layer '{self.name}' (Python, {self.where}): {reason}")

    def _call(self, what, *args):
        """Call the user's method (or class) by name; what it raises becomes one message naming the layer."""
        fn = getattr(self.user, what) if isinstance(what, str) else what
        name = what if isinstance(what, str) else "__init__"
        try:
            return fn(*args)
        except PythonLayerError:
            raise
        except Exception as exc:
            owner = what if isinstance(what, type) else type(self.user)
            where = _where(exc, getattr(sys.modules.get(owner.__module__), "__file__", None))
            raise self._error(f"{name} raised {type(exc).__name__}: {exc}{where}") from None

    # -- running -----------------------------------------------------------------------
    def forward(self, *bottoms):
        if not bottoms and not len(self.blobs):
            return self.python_forward(())
        return _PythonFunction.apply(self, len(bottoms), *bottoms, *self.blobs)

    def python_forward(self, bottoms) -> tuple[torch.Tensor, ...]:
        """Caffe's ``Layer::Forward``: reshape, then forward, on the host; the tops as tensors on our device."""
        for blob, value in zip(self.bottom_blobs, bottoms):
            blob.set_data(value.detach().to("cpu", torch.float32).numpy())
        for param, blob in zip(self.blobs, self.user.blobs):  # the solver updated the parameter
            blob.data[...] = param.detach().to("cpu", torch.float32).numpy().reshape(blob.shape)
        self._call("reshape", self.bottom_blobs, self.top_blobs)
        self._call("forward", self.bottom_blobs, self.top_blobs)
        device = bottoms[0].device if bottoms else self.device
        return tuple(torch.from_numpy(b.data.copy()).to(device) for b in self.top_blobs)

    def python_backward(self, top_grads, propagate_down: list[bool], param_needs: list[bool]) -> list:
        """Caffe's ``Backward``: the gradients reaching the tops are their diffs; the bottoms' diffs come
        back, then the learnable blobs' diffs (each pass's own: autograd adds them up as Caffe's diffs)."""
        for blob, grad in zip(self.top_blobs, top_grads):
            blob.diff[...] = 0.0 if grad is None else grad.detach().to("cpu", torch.float32).numpy().reshape(blob.shape)
        for blob, needed in zip(self.bottom_blobs, propagate_down):
            if needed and blob not in self.top_blobs:
                blob.diff[...] = 0.0
        for blob in self.user.blobs:
            blob.diff[...] = 0.0
        self._call("backward", self.top_blobs, list(propagate_down), self.bottom_blobs)
        device = top_grads[0].device if top_grads and top_grads[0] is not None else self.device
        blobs = [*self.bottom_blobs, *self.user.blobs]
        return [torch.from_numpy(b.diff.copy()).to(device) if needed else None
                for b, needed in zip(blobs, [*propagate_down, *param_needs])]
