"""Data layers: Input, DummyData, MemoryData, Data, ImageData.

* Input: tops given from outside (``net.forward({"data": ...})``); ``input_param.shape`` is given
  once (all tops), once per top, or not at all (Caffe's rule).
* DummyData: ``shape`` (or legacy num/channels/height/width) once or once per top, and
  ``data_filler`` 0, 1 or once per top (default constant 0); constant-filled tops are filled once,
  the others are refilled on every forward, as Caffe's ``refill_``.
* MemoryData: ``memory_data_param { batch_size channels height width }`` gives the tops' shapes
  (data ``(batch_size, channels, height, width)``, label ``(batch_size,)``); the arrays come from
  :meth:`MemoryData.reset` (Caffe's ``Reset``, pycaffe's ``net.set_input_arrays``), untransformed, and
  each forward takes the next ``batch_size`` items, wrapping around; the label top is then
  ``(batch_size, 1, 1, 1)``, as Caffe's ``Forward_cpu`` reshapes it.
* Data, ImageData: batches come from ``tunewiz.data.feed.make_feed(layer_param, phase, seed, root)``
  (imported only when such a layer is built); the feed gives the top shapes.  On a CUDA net the
  batches go host -> device through a reused pinned (page-locked) buffer per top, copied with
  ``non_blocking=True`` (:class:`PinnedStager`); on the CPU they are used as the feed gives them.
"""
from __future__ import annotations

import warnings

import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.layers.kernels.fillers import fill
from tunewiz.engine.layers.base import Layer, register


def _one_or_each(layer: Layer, items: list, what: str, allow_none: bool = False) -> list:
    n = len(layer.param.top)
    if len(items) == 1:
        return items * n
    if len(items) == n or (allow_none and not items):
        return items
    raise layer.fail(f"give '{what}' once, once per top ({n}), or"
                     f"{' not at all' if allow_none else ''} (got {len(items)})")


class _DataLayer(Layer):
    is_data = True

    def setup(self, bottom_shapes):
        if bottom_shapes:
            raise self.fail("a data layer takes no bottoms")
        return self.data_setup()

    def data_setup(self):
        raise NotImplementedError


@register("Input")
class Input(_DataLayer):
    """Caffe's InputLayer: tops set from outside the net."""

    def data_setup(self):
        shapes = _one_or_each(self, list(self.param.input_param.shape), "shape", allow_none=True)
        if not shapes:
            raise self.fail("input_param has no shape; give input_param { shape { dim: ... } }")
        return [tuple(int(d) for d in s.dim) for s in shapes]

    def forward(self):
        return tuple(torch.zeros(s, device=self.device) for s in self.top_shapes)


@register("DummyData")
class DummyData(_DataLayer):
    """Caffe's DummyDataLayer: tops filled by fillers (refilled each pass unless constant)."""

    def data_setup(self):
        dp = self.param.dummy_data_param
        if len(dp.shape):
            shapes = [tuple(int(d) for d in s.dim) for s in _one_or_each(self, list(dp.shape), "shape")]
        else:
            legacy = [_one_or_each(self, list(getattr(dp, f)) or [1], f) for f in
                      ("num", "channels", "height", "width")]
            shapes = [tuple(int(v[i]) for v in legacy) for i in range(len(self.param.top))]
        fillers = list(dp.data_filler) or [caffe_pb2.FillerParameter()]
        self.fillers = _one_or_each(self, fillers, "data_filler")
        self.refill = [f.type not in ("", "constant") for f in self.fillers]
        self.fixed = [None if self.refill[i] or self.device.type == "meta"
                      else fill(torch.empty(s, device=self.device), self.fillers[i])
                      for i, s in enumerate(shapes)]
        return shapes

    def forward(self):
        tops = []
        for i, shape in enumerate(self.top_shapes):
            if self.refill[i]:
                tops.append(fill(torch.empty(shape, device=self.device), self.fillers[i]))
            else:
                tops.append(self.fixed[i])
        return tuple(tops)


@register("MemoryData")
class MemoryData(_DataLayer):
    """Caffe's MemoryDataLayer: batches cut in turn from arrays given with :meth:`reset`."""

    def data_setup(self):
        if len(self.param.top) != 2:
            raise self.fail(f"takes exactly 2 tops (data, label), got {len(self.param.top)}")
        mp = self.param.memory_data_param
        self.batch_size, self.item = int(mp.batch_size), (int(mp.channels), int(mp.height), int(mp.width))
        if self.batch_size * self.item[0] * self.item[1] * self.item[2] <= 0:
            raise self.fail("batch_size, channels, height, and width must be specified and positive"
                            " in memory_data_param")
        self.data = self.labels = None
        self.pos = 0
        return [(self.batch_size, *self.item), (self.batch_size,)]

    def reset(self, data: torch.Tensor, labels: torch.Tensor) -> None:
        """Caffe's ``Reset``: use ``data`` (n, c, h, w) and ``labels`` (n values) from the first item on.
        The arrays are read at each forward, not copied here (Caffe keeps the pointers)."""
        n = int(data.shape[0])
        if n == 0 or n % self.batch_size or tuple(data.shape[1:]) != self.item or labels.numel() != n:
            raise self.fail(f"needs data of shape (n, {', '.join(map(str, self.item))}) and n labels, n a"
                            f" positive multiple of batch_size {self.batch_size}; got {tuple(data.shape)}"
                            f" and {labels.numel()} labels")
        if self.param.HasField("transform_param"):
            # Caffe's LOG(WARNING): arrays given through Reset are meant to be used as they are
            warnings.warn(f"layer '{self.name}': MemoryData does not transform array data on Reset()",
                          stacklevel=2)
        self.data, self.labels, self.pos = data, labels.reshape(n), 0

    def forward(self):
        if self.data is None:
            raise self.fail("MemoryDataLayer needs to be initialized by calling Reset"
                            " (pycaffe: net.set_input_arrays(data, labels) before the first forward)")
        start, stop = self.pos, self.pos + self.batch_size
        self.pos = stop % self.data.shape[0]
        data = self.data[start:stop].to(self.device, torch.float32, copy=True)
        labels = self.labels[start:stop].to(self.device, torch.float32, copy=True)
        return data, labels.reshape(self.batch_size, 1, 1, 1)


def wants_pinned(device) -> bool:
    """Stage batches through pinned memory: only for a CUDA device on a machine where CUDA works
    (a CPU-only torch cannot pin)."""
    return torch.device(device).type == "cuda" and torch.cuda.is_available()


class PinnedStager:
    """numpy batch -> ``device`` tensor through one reused pinned buffer per top.

    ``to_device(i, array)`` copies ``array`` into top ``i``'s page-locked buffer (made again only when
    the shape changes) and starts an asynchronous copy to the device (``non_blocking=True``); an event
    recorded after that copy is waited on before the buffer is filled again, so a copy still in
    flight is never overwritten.  ``pin``/``make_event`` are for tests (default: pin, CUDA events).
    """

    def __init__(self, device, pin: bool = True, make_event=None):
        self.device, self.pin = torch.device(device), pin
        self.make_event = make_event or (torch.cuda.Event if pin else None)
        self.buffers: dict[int, torch.Tensor] = {}
        self.events: dict[int, object] = {}

    def to_device(self, i: int, array) -> torch.Tensor:
        host = torch.as_tensor(array, dtype=torch.float32)
        buf = self.buffers.get(i)
        if buf is None or buf.shape != host.shape:
            buf = self.buffers[i] = torch.empty(host.shape, dtype=torch.float32, pin_memory=self.pin)
            self.events.pop(i, None)
        elif i in self.events:
            self.events[i].synchronize()  # the previous copy out of this buffer has finished
        buf.copy_(host)
        out = buf.to(self.device, non_blocking=True)
        if self.make_event is not None:
            event = self.events[i] = self.make_event()
            event.record()
        return out


class _FeedLayer(_DataLayer):
    """A layer reading batches from a data feed (LMDB/LevelDB or an image list)."""

    def data_setup(self):
        from tunewiz.data.feed import make_feed

        ctx = self.context
        self.feed = make_feed(self.param, self.phase, seed=ctx.get("seed"), root=ctx.get("root"))
        shapes = [tuple(int(d) for d in s) for s in self.feed.top_shapes]
        if len(shapes) < len(self.param.top):
            raise self.fail(f"the data source gives {len(shapes)} tops, the layer names {len(self.param.top)}")
        if self.device.type == "meta":
            self.feed.close()
            self.feed = None
        self.stager = PinnedStager(self.device) if wants_pinned(self.device) else None
        return shapes[:len(self.param.top)]

    def forward(self):
        arrays = self.feed.next_batch()[:len(self.top_shapes)]
        if self.stager is not None:
            return tuple(self.stager.to_device(i, a) for i, a in enumerate(arrays))
        return tuple(torch.as_tensor(a, dtype=torch.float32) for a in arrays)


@register("Data")
class Data(_FeedLayer):
    """Caffe's DataLayer (LMDB/LevelDB of Datum records, with transform_param)."""


@register("ImageData")
class ImageData(_FeedLayer):
    """Caffe's ImageDataLayer (a list file of ``path label`` lines)."""
