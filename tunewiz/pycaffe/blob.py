"""pycaffe's ``Blob``: ``.data`` and ``.diff`` are numpy arrays bound to the net.

A blob owns two CPU float32 tensors; ``.data``/``.diff`` are ``tensor.numpy()`` views of them, so writing
``blob.data[...] = x`` writes the tensor the next forward reads, and an array taken before a forward sees
the values after it (the net copies each result into the same memory while the shape stays the same).
A forward-only pass hands its results over with :meth:`Blob.store_later`: a blob whose array nobody has
taken yet copies the result in when ``.data`` is first read, so the blobs nobody looks at cost nothing.

A param blob's tensors ARE the layer's ``nn.Parameter`` data and its ``.grad`` on a CPU net (no copy);
on a GPU net they are host mirrors that the net pushes to the device before each pass and pulls back after
(:meth:`ParamBlob.push` / :meth:`ParamBlob.pull`), as Caffe's SyncedMemory keeps both sides current.
"""
from __future__ import annotations

import math

import torch

from tunewiz.pycaffe.errors import PycaffeError


class Blob:
    """An N-D array with data and diff (Caffe's ``Blob<float>``), shape as Caffe's."""

    def __init__(self, shape=(), data: torch.Tensor | None = None, diff: torch.Tensor | None = None):
        self._data = data if data is not None else torch.zeros(tuple(shape), dtype=torch.float32)
        self._diff = diff if diff is not None else torch.zeros_like(self._data)
        #: what the diff holds when the blob is (re)made: a loss top's loss_weight (Caffe's SetLossWeights)
        self.diff_fill = 0.0
        self._pending: torch.Tensor | None = None  # a result not copied in yet (store_later)
        self.exposed = False  # an array of the values was handed out

    @property
    def data(self):
        """The values: a writable numpy array sharing the blob's memory."""
        self._flush()
        self.exposed = True
        return self._data.numpy()

    @property
    def diff(self):
        """The gradient: a writable numpy array sharing the blob's memory."""
        return self._diff.numpy()

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple((self._data if self._pending is None else self._pending).shape)

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    def _legacy(self, index: int) -> int:
        """Caffe's LegacyShape: num/channels/height/width of a blob of at most 4 axes (missing ones are 1)."""
        if len(self.shape) > 4:
            raise PycaffeError(f"num/channels/height/width are for blobs of at most 4 axes; this one is {self.shape}")
        return self.shape[index] if index < len(self.shape) else 1

    num = property(lambda self: self._legacy(0), doc="axis 0 (batch)")
    channels = property(lambda self: self._legacy(1), doc="axis 1")
    height = property(lambda self: self._legacy(2), doc="axis 2")
    width = property(lambda self: self._legacy(3), doc="axis 3")

    def reshape(self, *shape) -> None:
        """New dims (``blob.reshape(10, 3, 227, 227)``); the values are kept only where the shape stays."""
        self._flush()
        dims = tuple(int(d) for d in (shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape))
        if any(d < 0 for d in dims):
            raise PycaffeError(f"reshape{dims}: dims must be 0 or more")
        if dims != self.shape:
            self._data = torch.zeros(dims, dtype=torch.float32)
            self._diff = torch.full(dims, self.diff_fill, dtype=torch.float32)

    def store(self, value: torch.Tensor) -> None:
        """Copy a pass's result into the blob (into the same memory while the shape is the same)."""
        self._pending = None
        value = value.detach()
        if tuple(value.shape) != self.shape:
            self.reshape(*value.shape)
        self._data.copy_(value)

    def store_later(self, value: torch.Tensor) -> None:
        """As :meth:`store`, the copy made when the values are first read (at once if an array is out)."""
        if self.exposed:
            self.store(value)
        else:
            self._pending = value.detach()

    def _flush(self) -> None:
        if self._pending is not None:
            self.store(self._pending)

    def store_diff(self, grad: torch.Tensor) -> None:
        """Write a backward's gradient into ``.diff`` (Caffe overwrites a blob's diff)."""
        grad = grad.detach()
        if tuple(grad.shape) != tuple(self._diff.shape):
            self._diff = torch.zeros(tuple(grad.shape), dtype=torch.float32)
        self._diff.copy_(grad)

    def tensor(self, device: torch.device) -> torch.Tensor:
        """A copy of the values on ``device``, for a pass to read (never aliased with the blob's memory)."""
        self._flush()
        return self._data.to(device, copy=True)

    def __repr__(self) -> str:
        return f"<Blob {self.shape}>"


class ParamBlob(Blob):
    """A learnable blob of a layer, bound to its ``nn.Parameter`` (see the module docstring)."""

    def __init__(self, param: torch.nn.Parameter):
        self.param = param
        self.mirrored = param.device.type != "cpu"
        if self.mirrored:
            super().__init__(data=param.detach().to("cpu", copy=True))
            return
        if param.grad is None:
            param.grad = torch.zeros_like(param)
        super().__init__(data=param.data, diff=param.grad)

    @property
    def diff(self):
        if not self.mirrored and self.param.grad is not self._diff:  # something set .grad anew (or to None)
            if self.param.grad is None:
                self.param.grad = torch.zeros_like(self.param)
            self._diff = self.param.grad
        return self._diff.numpy()

    def reshape(self, *shape) -> None:
        raise PycaffeError("a layer's param blob keeps the shape its layer gave it; reshape the net's inputs")

    def accumulate(self, grad: torch.Tensor) -> None:
        """Add a backward's gradient to the param's diff (Caffe accumulates param diffs)."""
        if self.param.grad is None:
            self.param.grad = torch.zeros_like(self.param)
        self.param.grad.add_(grad.to(self.param.grad.dtype))

    def push(self) -> None:
        """Host values and diff to the device (a GPU net, before a pass)."""
        if self.mirrored:
            with torch.no_grad():
                self.param.copy_(self._data)
            if self.param.grad is None:
                self.param.grad = torch.zeros_like(self.param)
            self.param.grad.copy_(self._diff)

    def pull(self) -> None:
        """Device values and diff to the host (a GPU net, after a pass)."""
        if self.mirrored:
            self._data.copy_(self.param.detach())
            if self.param.grad is not None:
                self._diff.copy_(self.param.grad)
