"""Data layers: Input, DummyData, MemoryData, Data, ImageData, HDF5Data (and HDF5Output, which writes).

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
* Data, ImageData, HDF5Data: batches come from ``tunewiz.data.feed.make_feed(layer_param, phase, seed,
  root, shard)`` (imported only when such a layer is built; ``shard``: this rank's records in TRAIN); the feed gives the top shapes (HDF5Data's: the
  first file's datasets, rows ``batch_size``; see :mod:`tunewiz.data.hdf5_source`).  On a CUDA net the
  batches go host -> device through a reused pinned (page-locked) buffer per top, copied with
  ``non_blocking=True`` (:class:`PinnedStager`); on the CPU they are used as the feed gives them.
* HDF5Output: ``hdf5_output_param.file_name`` gets bottoms 0 and 1 as float32 datasets ``data`` and
  ``label``, in Caffe's 4-axis legacy shape ``(num, channels, height, width)``, at the forward.  Caffe
  writes one batch per net: its second forward stops ("Failed to make float dataset data"), and so
  does this one, with that said.  Caffe empties an existing file when the net is built; here it is
  left alone until the forward writes the new file whole (a temporary renamed over it), and a warning
  at setup names the file that will be replaced.  Backward passes nothing to the bottoms (Caffe's).
"""
from __future__ import annotations

import os
import warnings

import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.hdf5 import h5py_module
from tunewiz.data.hdf5_files import write_output
from tunewiz.data.paths import resolve
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
        shard = ctx.get("shard") if self.phase == caffe_pb2.TRAIN else None  # Caffe: TEST never skips
        self.feed = make_feed(self.param, self.phase, seed=ctx.get("seed"), root=ctx.get("root"), shard=shard)
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


@register("HDF5Data")
class HDF5Data(_FeedLayer):
    """Caffe's HDF5DataLayer (``hdf5_data_param { source batch_size shuffle }``, a list of .h5 files)."""


@register("HDF5Output")
class HDF5Output(Layer):
    """Caffe's HDF5OutputLayer: bottoms ``data`` and ``label`` into ``file_name`` (once per net)."""

    def setup(self, bottom_shapes):
        if len(bottom_shapes) != 2 or len(self.param.top):
            raise self.fail(f"takes exactly 2 bottoms (data, label) and no top, got {len(bottom_shapes)} "
                            f"and {len(self.param.top)}")
        for shape in bottom_shapes:
            if len(shape) > 4:
                raise self.fail(f"writes bottoms of at most 4 axes (Caffe's num, channels, height, width), "
                                f"got {shape}")
        self.file_name = self.param.hdf5_output_param.file_name
        if not self.file_name:
            raise self.fail("hdf5_output_param.file_name is empty; name the .h5 file to write")
        self.path = resolve(self.file_name, self.context.get("root"))
        self.written = False
        if self.device.type != "meta":
            self._check_path()
        return []

    def _check_path(self) -> None:
        h5py_module(f"layer '{self.name}' (HDF5Output): HDF5 output files")
        folder = os.path.dirname(self.path) or "."
        if os.path.isdir(self.path) or not os.path.isdir(folder):
            raise self.fail(f"Failed to open HDF5 file {self.file_name}: "
                            f"{'it is a folder' if os.path.isdir(self.path) else f'no folder {folder}'}")
        if os.path.exists(self.path):
            warnings.warn(f"layer '{self.name}' (HDF5Output): {self.file_name} exists; this net's forward "
                          "replaces it (Caffe empties it as the net is built)", stacklevel=2)

    def forward(self, data, label):
        if self.device.type == "meta":
            return ()
        if self.written:
            raise self.fail(f"Failed to make float dataset data: {self.file_name} was written by this net's "
                            "first forward, and Caffe's HDF5Output writes one batch per net; run one forward "
                            "(e.g. -iterations 1), or build the net again for the next batch")
        if data.shape[0] != label.shape[0]:
            raise self.fail(f"data blob and label blob must have the same batch size ({data.shape[0]} and "
                            f"{label.shape[0]})")
        write_output(self.path, _legacy(data), _legacy(label), f"layer '{self.name}' (HDF5Output)")
        self.written = True
        return ()


def _legacy(blob: torch.Tensor):
    """A bottom as Caffe's ``Reshape(num(), channels(), height(), width())``: missing axes are 1."""
    shape = tuple(blob.shape) + (1,) * (4 - blob.dim())
    return blob.detach().to("cpu", torch.float32).reshape(shape).numpy()
