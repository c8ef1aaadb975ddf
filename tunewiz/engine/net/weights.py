"""Weights in and out of a net: Caffe's ``CopyTrainedLayersFrom`` and ``Net::ToProto``.

``copy_trained_layers(net, paths)`` applies each caffemodel in order (V0/V1 files are upgraded
on read by ``tunewiz.caffe.caffemodel.load_weights``).  For each layer of a file, in file order:

* no layer of that name in the net: "Ignoring source layer X" (listed as ignored);
* otherwise the FIRST net layer of that name takes the blobs: the blob count must match
  ("Incompatible number of blobs for layer X") and every blob's shape must match —
  legacy 4-D dims are compared aligned from the end (Caffe's ``Blob::ShapeEquals``) —
  else Caffe stops with "Cannot copy param j weights from layer 'X'; shape mismatch. ...".

The :class:`TransferReport` lists the copied layers with their shapes, the net's layers with
params that no file gave (newly initialized by their fillers) and the ignored source layers.

``net_to_caffemodel(net)`` builds the NetParameter Caffe's ``Net::ToProto`` writes: every layer
(auto-inserted Split layers included, bottoms renamed to the split tops as ``InsertSplits`` does),
each with ``phase`` set, the ``loss_weight``/``param`` entries Caffe's setup adds, and its blobs
with ``shape``.  ``save_caffemodel(net, path)`` writes it.

Caffe's HDF5 weights (``snapshot_format: HDF5``, a name ending in ``.h5``; :mod:`tunewiz.caffe.hdf5`)
are read by ``copy_trained_layers`` with ``CopyTrainedLayersFromHDF5``'s checks and written by
``save_hdf5`` as ``Net::ToHDF5``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.errors import TunewizError


class WeightCopyError(TunewizError):
    """A caffemodel's layer does not fit the net (blob count or shape)."""


@dataclass
class TransferReport:
    """What ``copy_trained_layers`` did."""

    copied: list[tuple[str, list[tuple[int, ...]]]] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    #: layer name -> the file its blobs came from (the last file that had it)
    sources: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"copied  {name}: {', '.join(_shape_text(s) for s in shapes)}"
               + (f" from {self.sources[name]}" if len(self.files) > 1 else "") for name, shapes in self.copied]
        out += [f"new     {name} (initialized by its fillers)" for name in self.new]
        out += [f"ignored {name} (Ignoring source layer {name})" for name in self.ignored]
        return out


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape) or "scalar"


def shape_string(shape: Sequence[int]) -> str:
    """Caffe's ``Blob::shape_string``: ``"4 100 (400)"``."""
    return "".join(f"{d} " for d in shape) + f"({math.prod(shape)})"


def split_paths(paths: str | Path | Iterable) -> list[str]:
    """``a.caffemodel,b.caffemodel`` (Caffe's --weights) or a list of paths."""
    if isinstance(paths, (str, Path)):
        return [p for p in str(paths).split(",") if p]
    return [str(p) for p in paths]


def copy_trained_layers(net, caffemodel_paths) -> TransferReport:
    """Copy blobs by layer name from each caffemodel in order (see the module docstring); a name
    ending in ``.h5`` is Caffe's HDF5 weights, as in Caffe's ``CopyTrainedLayersFrom``."""
    from tunewiz.caffe.caffemodel import load_weights
    from tunewiz.caffe.hdf5 import is_hdf5_name, read_net_hdf5

    report = TransferReport()
    copied: dict[str, list[tuple[int, ...]]] = {}
    for path in split_paths(caffemodel_paths):
        if is_hdf5_name(path):
            sources = [(name, blobs, _copy_hdf5_layer) for name, blobs in read_net_hdf5(path)]
        else:
            sources = [(layer.name, layer.blobs, copy_layer) for layer in load_weights(path).layers]
        report.files.append(str(path))
        for name, blobs, copy in sources:
            target = net.layer_by_name(name)
            if target is None:
                if name not in report.ignored:
                    report.ignored.append(name)
                continue
            shapes = copy(target, name, blobs, path, net)
            if shapes:
                copied[name] = shapes
                report.sources[name] = str(path)
    for layer in net.layers:
        if len(layer.blobs) and layer.name not in copied:
            report.new.append(layer.name)
    report.copied = [(layer.name, copied[layer.name]) for layer in net.layers if layer.name in copied]
    return report


def copy_layer(target, name: str, blobs, path="", net=None) -> list[tuple[int, ...]]:
    """Copy ``blobs`` (caffemodel Blob objects) into ``target.blobs`` with Caffe's checks."""
    from tunewiz.caffe.blobs import shape_equals

    where = f"{path}: " if path else ""
    if len(blobs) != len(target.blobs):
        raise WeightCopyError(
            f"{where}Incompatible number of blobs for layer '{name}': the file has {len(blobs)}, the net's "
            f"layer ({target.param.type}) has {len(target.blobs)}. To learn this layer's parameters from "
            "scratch rather than copying from a saved net, rename the layer.")
    shapes = []
    for j, (blob, param) in enumerate(zip(blobs, target.blobs)):
        want = tuple(param.shape)
        if not shape_equals(blob, want):
            raise WeightCopyError(
                f"{where}Cannot copy param {j} weights from layer '{name}'; shape mismatch.  Source param "
                f"shape is {shape_string(blob.stored_shape)}; target param shape is {shape_string(want)}. "
                "To learn this layer's parameters from scratch rather than copying from a saved net, "
                "rename the layer.")
        values = torch.from_numpy(np.ascontiguousarray(blob.data, dtype=np.float32).reshape(want))
        with torch.no_grad():
            param.copy_(values.to(param.device))
        shapes.append(want)
    return shapes


def _copy_hdf5_layer(target, name: str, blobs: dict, path, net) -> list[tuple[int, ...]]:
    """``CopyTrainedLayersFromHDF5`` for one layer: ``blobs`` {index: array}; a missing dataset is fine
    only for a param the layer shares with an earlier one; shapes must be equal."""
    where = f"{path}: " if path else ""
    if len(blobs) > len(target.blobs):
        raise WeightCopyError(f"{where}Incompatible number of blobs for layer '{name}': the file has "
                              f"{len(blobs)}, the net's layer ({target.param.type}) has {len(target.blobs)}.")
    shared = _shared_blobs(net)
    shapes = []
    for j, param in enumerate(target.blobs):
        want = tuple(param.shape)
        if j not in blobs:
            if id(param) in shared.get(name, set()):
                continue
            raise WeightCopyError(f"{where}Incompatible number of blobs for layer '{name}': no dataset '{j}' "
                                  f"for its param {j}.")
        if tuple(blobs[j].shape) != want:
            raise WeightCopyError(
                f"{where}Cannot load blob from hdf5; shape mismatch. Source shape is {shape_string(blobs[j].shape)};"
                f" target shape is {shape_string(want)} (layer '{name}', param {j}).")
        with torch.no_grad():
            param.copy_(torch.from_numpy(np.ascontiguousarray(blobs[j])).to(param.device))
        shapes.append(want)
    return shapes


def _shared_blobs(net) -> dict[str, set[int]]:
    """Layer name -> ids of its blobs that an earlier layer owns (``param { name }``)."""
    seen: set[int] = set()
    shared: dict[str, set[int]] = {}
    for layer in net.layers:
        for blob in layer.blobs:
            if id(blob) in seen:
                shared.setdefault(layer.name, set()).add(id(blob))
            seen.add(id(blob))
    return shared


# -- writing ---------------------------------------------------------------------------------
def net_to_caffemodel(net) -> caffe_pb2.NetParameter:
    """The NetParameter (with blobs) Caffe's ``Net::ToProto`` gives for ``net``."""
    from tunewiz.caffe.blobs import Blob, to_message
    from tunewiz.engine.net.graph import insert_splits

    split_net, origin = insert_splits(net.net_param)
    out = caffe_pb2.NetParameter(name=net.net_param.name)
    for lp, source in zip(split_net.layer, origin):
        entry = out.layer.add()
        entry.CopyFrom(lp)
        if not entry.HasField("phase"):
            entry.phase = net.phase
        if source < 0:
            continue
        layer = net.layers[source]
        if layer.is_loss and not len(lp.loss_weight) and len(lp.top):
            entry.loss_weight.append(1.0)
        if layer.fixed_lr_mult is not None:
            for j in range(len(layer.blobs)):
                if j >= len(entry.param):
                    entry.param.add(lr_mult=layer.fixed_lr_mult)
        for blob in layer.blobs:
            array = blob.detach().to("cpu", torch.float32).numpy()
            entry.blobs.add().CopyFrom(to_message(Blob.from_array(array)))
    return out


def save_hdf5(net, path) -> None:
    """Write ``net``'s weights as Caffe's ``Net::ToHDF5``: a group per layer (split layers too), each
    holding the params the layer owns."""
    from tunewiz.caffe.hdf5 import write_net_hdf5
    from tunewiz.engine.net.graph import insert_splits

    split_net, origin = insert_splits(net.net_param)
    seen: set[int] = set()
    layers = []
    for lp, source in zip(split_net.layer, origin):
        owned = []
        for j, blob in enumerate(net.layers[source].blobs if source >= 0 else []):
            if id(blob) not in seen:
                seen.add(id(blob))
                owned.append((j, blob.detach().to("cpu", torch.float32).numpy()))
        layers.append((lp.name, owned))
    write_net_hdf5(path, layers)


def save_caffemodel(net, path) -> None:
    """Write ``net``'s weights as a caffemodel laid out as Caffe writes it."""
    from tunewiz.caffe.caffemodel import write_caffemodel

    write_caffemodel(path, net_to_caffemodel(net))
