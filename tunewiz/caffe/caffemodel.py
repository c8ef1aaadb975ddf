"""Caffemodels: binary ``NetParameter`` files with the learned blobs, read and written fast.

Reading (:func:`read_net_binary`) walks the wire format: every ``layer`` (field 100)
/ ``layers`` (2, V1; its ``layer`` 1 for V0) entry's ``blobs`` (7 / 6 / 50) are read
straight into numpy arrays; the rest of each layer is parsed by ``caffe_pb2``.
:func:`load_weights` adds what a user of the weights wants: the layers in file
order, ``{layer name: [arrays]}``, each blob's legacy 4-D dims, and V0/V1 files
upgraded the way Caffe's ``UpgradeNetAsNeeded`` does on read.

Writing (:func:`write_caffemodel`) lays the file out as Caffe's
``Net::ToProto`` + ``WriteProtoToBinaryFile`` do — layer entries with their params
and blobs with ``shape`` and float ``data`` — into a temporary file renamed over
the target, so a failed write never damages an existing file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from google.protobuf.message import DecodeError

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.blobs import Blob
from tunewiz.caffe.blobtree import BlobTree, decode_tree, encode_tree
from tunewiz.caffe.detect import expect
from tunewiz.caffe.upgrade import upgraded_copy
from tunewiz.caffe.upgrade_report import UpgradeReport
from tunewiz.caffe.wire import Source, WireError, atomic_write
from tunewiz.errors import FormatError

LAYER, LAYERS, V0_LAYER = 100, 2, 1  # NetParameter.layer, NetParameter.layers, V1LayerParameter.layer


@dataclass
class BinaryNet:
    """A binary NetParameter as stored: the message without blobs, and the blobs.

    ``blobs.children[100][i]`` holds the blobs of ``net.layer[i]``,
    ``blobs.children[2][i]`` those of ``net.layers[i]`` (V1; a V0 layer's blobs
    sit one level deeper, under ``[2][i].children[1][0]``).
    """

    net: caffe_pb2.NetParameter
    blobs: BlobTree = field(default_factory=BlobTree)

    @property
    def format(self) -> str:
        if not self.net.layers:
            return "V2"
        return "V0" if any(l.HasField("layer") for l in self.net.layers) else "V1"

    def layer_blobs(self) -> list[list[Blob]]:
        """Blobs of each ``net.layer`` entry, in order."""
        return [self.blobs.child(LAYER, i).blobs for i in range(len(self.net.layer))]

    def v1_blobs(self) -> list[list[Blob]]:
        """Blobs of each V1 ``net.layers`` entry (or of the V0 layer inside it), in order."""
        out = []
        for i in range(len(self.net.layers)):
            entry = self.blobs.child(LAYERS, i)
            out.append(entry.blobs or entry.child(V0_LAYER, 0).blobs)
        return out

    def to_message(self) -> caffe_pb2.NetParameter:
        """The whole NetParameter with its blobs (slow for big nets; for tests and tools)."""
        return caffe_pb2.NetParameter.FromString(encode_tree(self.net.SerializeToString(), "NetParameter", self.blobs).tobytes())


@dataclass
class LayerWeights:
    """One layer of a caffemodel: name, type and blobs (empty for layers without weights)."""

    name: str
    type: str
    blobs: list[Blob]

    @property
    def arrays(self) -> list[np.ndarray]:
        return [b.data for b in self.blobs]


@dataclass
class Weights:
    """The weights of a caffemodel, upgraded to the current (V2) layer form.

    ``net`` is the upgraded NetParameter without blobs, ``layers`` has one entry
    per ``net.layer`` (same order), ``stored`` is the file as read (V0/V1 form
    kept, for writing back in that form), ``format`` "V2", "V1" or "V0", ``report`` what
    the upgrade did (Caffe's log lines).
    """

    path: Path
    net: caffe_pb2.NetParameter
    layers: list[LayerWeights]
    stored: BinaryNet
    upgraded: bool = False
    report: UpgradeReport = field(default_factory=UpgradeReport)

    @property
    def format(self) -> str:
        return self.stored.format

    def arrays(self) -> dict[str, list[np.ndarray]]:
        """``{layer name: [arrays]}`` for layers with blobs (a later duplicate name wins, as in Caffe's copy)."""
        return {l.name: l.arrays for l in self.layers if l.blobs}

    def __getitem__(self, name: str) -> list[np.ndarray]:
        for layer in reversed(self.layers):
            if layer.name == name:
                return layer.arrays
        raise KeyError(name)

    def legacy_dims(self) -> dict[str, list[tuple[int, int, int, int] | None]]:
        """``{layer name: [(num, channels, height, width) or None per blob]}``."""
        return {l.name: [b.legacy for b in l.blobs] for l in self.layers if l.blobs}

    @property
    def param_count(self) -> int:
        return sum(int(b.data.size) for l in self.layers for b in l.blobs)


def read_net_binary(path: str | os.PathLike) -> BinaryNet:
    """Read a caffemodel as stored (no upgrade); clear errors for anything else."""
    info = expect(path, "caffemodel")
    fd = os.open(path, os.O_RDONLY)
    try:
        body, tree = decode_tree(Source(fd=fd, size=info.size), 0, info.size, "NetParameter")
        net = caffe_pb2.NetParameter.FromString(body)
    except (WireError, DecodeError) as exc:
        raise FormatError(f"{path}: damaged caffemodel ({exc}); copy it again") from None
    finally:
        os.close(fd)
    binary = BinaryNet(net, tree)
    _check_blobs(path, binary)
    return binary


def _check_blobs(path, binary: BinaryNet) -> None:
    for name, _, blobs in _stored_layers(binary):
        for i, blob in enumerate(blobs):
            try:
                blob.check(f"layer '{name}' blob {i}")
            except ValueError as exc:
                raise FormatError(f"{path}: {exc}; the file is damaged") from None


def load_weights(path: str | os.PathLike) -> Weights:
    """Read a caffemodel, upgraded as Caffe's ``ReadNetParamsFromBinaryFileOrDie`` does."""
    stored = read_net_binary(path)
    upgraded, report = upgraded_copy(stored.net, str(path))
    return Weights(Path(path), upgraded, _match_upgraded(upgraded, stored), stored,
                   upgraded=stored.format != "V2", report=report)


def _stored_layers(stored: BinaryNet) -> list[tuple[str, str, list[Blob]]]:
    """(name, type, blobs) of every stored layer entry, V2 ones first, then V1/V0 ones."""
    out = [(l.name, l.type, b) for l, b in zip(stored.net.layer, stored.layer_blobs())]
    for layer, blobs in zip(stored.net.layers, stored.v1_blobs()):
        if layer.HasField("layer"):
            out.append((layer.name or layer.layer.name, layer.layer.type, blobs))
        else:
            out.append((layer.name, caffe_pb2.V1LayerParameter.LayerType.Name(layer.type), blobs))
    return out


def _match_upgraded(net: caffe_pb2.NetParameter, stored: BinaryNet) -> list[LayerWeights]:
    """Give each upgraded layer the blobs of the stored layer of the same name (in order)."""
    pool = _stored_layers(stored)
    used = [False] * len(pool)
    layers = []
    for layer in net.layer:
        blobs: list[Blob] = []
        for k, (name, _, candidate) in enumerate(pool):
            if not used[k] and name == layer.name:
                used[k], blobs = True, candidate
                break
        layers.append(LayerWeights(layer.name, layer.type, blobs))
    return layers


def write_caffemodel(
    path: str | os.PathLike,
    net_param: caffe_pb2.NetParameter | BinaryNet,
    blobs: BlobTree | Sequence[Sequence] | Mapping[str, Sequence] | None = None,
) -> None:
    """Write a binary NetParameter atomically, laid out as Caffe writes it.

    ``blobs`` (optional) adds blobs to the layer entries of ``net_param``
    (``layer``, or V1 ``layers`` when the net has no ``layer``): a list aligned
    with the entries, a ``{layer name: [arrays or Blob]}`` mapping, or a
    :class:`BlobTree`.  Blobs already inside ``net_param`` are kept.
    """
    if isinstance(net_param, BinaryNet):
        net_param, blobs = net_param.net, net_param.blobs if blobs is None else blobs
    tree = blobs if isinstance(blobs, BlobTree) else _tree_for(net_param, blobs)
    chunks = encode_tree(net_param.SerializeToString(), "NetParameter", tree)
    try:
        atomic_write(path, chunks.parts)
    except OSError as exc:
        raise FormatError(f"{path}: cannot write ({exc.strerror or exc})") from None


def save_weights(path: str | os.PathLike, weights: Weights, stored_form: bool = False) -> None:
    """Write ``weights`` as a V2 caffemodel, or in the form it was read in (``stored_form``)."""
    if stored_form:
        write_caffemodel(path, weights.stored)
    else:
        write_caffemodel(path, weights.net, [l.blobs for l in weights.layers])


def _tree_for(net: caffe_pb2.NetParameter, blobs) -> BlobTree:
    number, entries = (LAYER, net.layer) if net.layer or not net.layers else (LAYERS, net.layers)
    if blobs is None:
        return BlobTree()
    if isinstance(blobs, Mapping):
        lists = [blobs.get(e.name, []) for e in entries]
    else:
        lists = list(blobs)
        if len(lists) != len(entries):
            raise ValueError(f"{len(lists)} blob lists for {len(entries)} layers")
    children = [BlobTree([b if isinstance(b, Blob) else Blob.from_array(b) for b in items]) for items in lists]
    return BlobTree(children={number: children})
