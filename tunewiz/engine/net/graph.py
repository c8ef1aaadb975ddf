"""Caffe's wiring rules for a net: blob dataflow, in-place tops, outputs, loss weights, backward needs.

Everything here works on names and flags only (no tensors), so it is shared by the net
builder and by shape inspection.  The rules are ``Net::Init``'s:

* a bottom must be a blob some earlier layer produced ("Unknown bottom blob");
* a top named like the bottom at the same index is in place; any other top name already
  produced is an error ("Top blob 'x' produced by multiple sources.");
* the net outputs are the blobs no later layer consumes, in name order (Caffe keeps them
  in a ``std::set<string>``);
* ``loss_weight`` is given once per top or not at all; loss layers default to 1 on top 0;
* Caffe inserts a Split layer for every blob read by several layers (``InsertSplits``); the
  backward analysis runs on that split net, so a blob's flags combine all its readers;
* backward needs: a layer needs backward when a bottom blob or one of its params does
  (``lr_mult != 0``); ``propagate_down`` overrides the bottom's flag; walking back from the
  end, layers whose tops reach no loss drop backward; ``force_backward`` then turns every
  layer on and every bottom the layer allows (``AllowForceBackward``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.layers.base import NetError


@dataclass
class Wiring:
    """How one layer is connected: bottoms, tops, loss weights and backward flags."""

    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    loss_weights: list[float] = field(default_factory=list)
    bottom_need_backward: list[bool] = field(default_factory=list)
    need_backward: bool = False


def check_bottoms(lp: caffe_pb2.LayerParameter, produced: set[str]) -> None:
    """Every bottom must come from an earlier layer."""
    for index, bottom in enumerate(lp.bottom):
        if bottom not in produced:
            raise NetError(
                f"layer '{lp.name}' ({lp.type}): bottom '{bottom}' (index {index}) is not produced by any "
                f"earlier layer in this phase (Caffe: Unknown bottom blob '{bottom}'). Check the top names "
                "of the layers above it and their include/exclude rules.")
    if len(lp.propagate_down) and len(lp.propagate_down) != len(lp.bottom):
        raise NetError(f"layer '{lp.name}' ({lp.type}): propagate_down must be given either 0 or "
                       f"{len(lp.bottom)} times (once per bottom), not {len(lp.propagate_down)}")


def check_tops(lp: caffe_pb2.LayerParameter, produced: set[str]) -> None:
    """A top is either in place (same name as the bottom at its index) or a new blob."""
    for index, top in enumerate(lp.top):
        in_place = index < len(lp.bottom) and lp.bottom[index] == top
        if not in_place and top in produced:
            raise NetError(f"layer '{lp.name}' ({lp.type}): top '{top}' is produced by multiple sources "
                           "(an earlier layer already made it); rename this top")


def loss_weights(lp: caffe_pb2.LayerParameter, is_loss: bool) -> list[float]:
    """Caffe's SetLossWeights: one weight per top, loss layers default to 1 on top 0."""
    n = len(lp.top)
    if len(lp.loss_weight):
        if len(lp.loss_weight) != n:
            raise NetError(f"layer '{lp.name}' ({lp.type}): loss_weight must be unspecified or given "
                           f"once per top ({n} tops, {len(lp.loss_weight)} weights)")
        return [float(w) for w in lp.loss_weight]
    weights = [0.0] * n
    if is_loss and n:
        weights[0] = 1.0
    return weights


def need_backward(wirings: list[Wiring], param_needs: list[bool], allow_force,
                  propagate_down: list[list[bool] | None], force_backward: bool) -> None:
    """Fill ``need_backward``/``bottom_need_backward`` in place, as Net::Init does."""
    blob_need: dict[str, bool] = {}
    for i, w in enumerate(wirings):
        need = param_needs[i]
        flags = []
        for j, bottom in enumerate(w.bottoms):
            blob = blob_need.get(bottom, False)
            need |= blob
            flags.append(propagate_down[i][j] if propagate_down[i] is not None else blob)
        w.bottom_need_backward = flags
        w.need_backward = need
        for top in w.tops:
            if need:
                blob_need[top] = True
            else:
                blob_need.setdefault(top, False)
    _prune_to_loss(wirings)
    if force_backward:
        for i, w in enumerate(wirings):
            w.need_backward = True
            w.bottom_need_backward = [flag or bool(allow_force(i, j))
                                      for j, flag in enumerate(w.bottom_need_backward)]


def _prune_to_loss(wirings: list[Wiring]) -> None:
    under_loss: set[str] = set()
    skip: set[str] = set()
    for w in reversed(wirings):
        contributes = False
        skip_down = True
        for k, top in enumerate(w.tops):
            if w.loss_weights[k] != 0 or top in under_loss:
                contributes = True
            if top not in skip:
                skip_down = False
            if contributes and not skip_down:
                break
        if w.need_backward and skip_down:
            w.need_backward = False
            w.bottom_need_backward = [False] * len(w.bottoms)
        if not contributes:
            w.need_backward = False
        for j, bottom in enumerate(w.bottoms):
            if contributes:
                under_loss.add(bottom)
            else:
                w.bottom_need_backward[j] = False
            if not w.bottom_need_backward[j]:
                skip.add(bottom)


def outputs(wirings: list[Wiring]) -> list[str]:
    """Blobs no later layer consumes, sorted by name as Caffe's std::set."""
    available: set[str] = set()
    for w in wirings:
        for bottom in w.bottoms:
            available.discard(bottom)
        available.update(w.tops)
    return sorted(available)


def split_layer_name(layer: str, blob: str, index: int) -> str:
    """Caffe's SplitLayerName: blob name first (``label_data_1_split`` for top 1 'label' of layer 'data')."""
    return f"{blob}_{layer}_{index}_split"


def split_blob_name(layer: str, blob: str, index: int, k: int) -> str:
    """Caffe's SplitBlobName: ``label_data_1_split_0``."""
    return f"{blob}_{layer}_{index}_split_{k}"


def insert_splits(net_param: caffe_pb2.NetParameter) -> tuple[caffe_pb2.NetParameter, list[int]]:
    """Caffe's InsertSplits; also the index of the source layer for each output layer (-1 = Split)."""
    last_top: dict[str, tuple[int, int]] = {}
    source_of: dict[tuple[int, int], tuple[int, int]] = {}
    count: dict[tuple[int, int], int] = {}
    loss: dict[tuple[int, int], float] = {}
    for i, lp in enumerate(net_param.layer):
        check_bottoms(lp, set(last_top))  # Caffe's InsertSplits checks first: "Unknown bottom blob"
        for j, bottom in enumerate(lp.bottom):
            source_of[(i, j)] = last_top[bottom]
            count[last_top[bottom]] = count.get(last_top[bottom], 0) + 1
        for j, top in enumerate(lp.top):
            last_top[top] = (i, j)
        for j in range(min(len(lp.loss_weight), len(lp.top))):
            idx = last_top[lp.top[j]]
            loss[idx] = lp.loss_weight[j]
            if loss[idx]:
                count[idx] = count.get(idx, 0) + 1
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net_param)
    del out.layer[:]
    origin: list[int] = []
    split_used: dict[tuple[int, int], int] = {}
    for i, lp in enumerate(net_param.layer):
        layer = out.layer.add()
        layer.CopyFrom(lp)
        origin.append(i)
        for j, bottom in enumerate(lp.bottom):
            idx = source_of[(i, j)]
            if count.get(idx, 0) > 1:
                k = split_used.get(idx, 0)
                split_used[idx] = k + 1
                layer.bottom[j] = split_blob_name(net_param.layer[idx[0]].name, bottom, idx[1], k)
        for j, top in enumerate(lp.top):
            n = count.get((i, j), 0)
            if n > 1:
                weight = loss.get((i, j), 0.0)
                split = out.layer.add(name=split_layer_name(lp.name, top, j), type="Split", bottom=[top])
                split.top.extend(split_blob_name(lp.name, top, j, k) for k in range(n))
                if weight:  # Caffe's ConfigureSplitLayer: the weight on the first split top, 0 on the others
                    split.loss_weight.extend([weight] + [0.0] * (n - 1))
                    layer.ClearField("loss_weight")
                    split_used[(i, j)] = split_used.get((i, j), 0) + 1
                origin.append(-1)
    return out, origin
