"""pycaffe's ``caffe.Net`` on tunewiz's engine (``tunewiz.engine.net.net.Net``).

``Net(prototxt, phase)``, ``Net(prototxt, weights, phase)``, or keywords ``phase=``, ``weights=``,
``level=``, ``stages=``.  The net is built as Caffe's ``Net::Init``: upgraded, filtered by the NetState,
then with Caffe's Split layers inserted (``InsertSplits``), so ``_layer_names``, ``_blob_names`` and
``blobs`` list what pycaffe lists, in its order, split blobs included.  Its blobs and params are
:class:`~tunewiz.pycaffe.blob.Blob` objects bound to the net (see ``blob.py``); forward and backward
follow Caffe's ``ForwardFromTo``/``BackwardFromTo`` (see ``passes.py``).  A bad graph or weights that
do not fit raise :class:`~tunewiz.pycaffe.errors.PycaffeError`, a ``RuntimeError`` as in pycaffe.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from pathlib import Path


from tunewiz.errors import TunewizError
from tunewiz.pycaffe import batches, mode, passes
from tunewiz.pycaffe.blob import Blob, ParamBlob
from tunewiz.pycaffe.errors import PycaffeError


@contextlib.contextmanager
def _as_runtime_error():
    """Engine errors reach the script as pycaffe's RuntimeError (one message, the engine's)."""
    try:
        yield
    except PycaffeError:
        raise
    except (TunewizError, FileNotFoundError) as exc:
        raise PycaffeError(str(exc)) from exc


def _signature(args: tuple, phase, weights):
    """pycaffe's two signatures: (file, phase) and the older (file, weights, phase)."""
    args = list(args)
    named_phase = len(args) == 1 and isinstance(args[0], str) and args[0].upper() in ("TRAIN", "TEST")
    if args and isinstance(args[0], (str, Path)) and not named_phase:
        if weights is not None:
            raise TypeError("Net(): weights given twice (positionally and as weights=)")
        weights = args.pop(0)
    if args:
        if phase is not None or len(args) > 1:
            raise TypeError("Net(): give Net(prototxt, phase) or Net(prototxt, weights, phase)")
        phase = args[0]
    if phase is None:
        raise TypeError("Net(): the phase is required: Net(prototxt, tunewiz.TEST) or phase=tunewiz.TRAIN")
    return phase, weights


class Layer:
    """One layer as pycaffe shows it: ``type``, ``blobs`` (its params), ``name``."""

    def __init__(self, name: str, type_: str, blobs: list[ParamBlob]):
        self.name, self.type, self.blobs = name, type_, blobs

    def __repr__(self) -> str:
        return f"<Layer {self.name!r} ({self.type})>"


class Net:
    """A Caffe net for one phase, with pycaffe's API (see the module docstring)."""

    def __init__(self, network_file, *args, phase=None, weights=None, level: int = 0, stages=None):
        from tunewiz.caffe.netio import read_net
        from tunewiz.engine.net.graph import insert_splits
        from tunewiz.engine.net.net import Net as EngineNet, prepare

        phase, weights = _signature(args, phase, weights)
        device = mode.device()
        with _as_runtime_error():
            if device != "cpu":
                from tunewiz.engine.devices import prepare_device
                prepare_device(device)
            net_param = read_net(network_file)
            split, _ = insert_splits(prepare(net_param, phase, level, stages or ()))
            self._engine = EngineNet(split, phase, level=level, stages=stages or (), device=device,
                                     numerics="caffe")
        self._make_blobs()
        self._make_layers()
        if weights is not None:
            self.copy_from(weights)

    @classmethod
    def _wrap(cls, engine) -> "Net":
        """pycaffe's Net over an engine Net built elsewhere (a solver's nets), using its parameters
        themselves: writing ``params[...].data`` writes the weights the engine trains."""
        net = cls.__new__(cls)
        net._engine = engine
        net._make_blobs()
        net._make_layers()
        return net

    # -- what the net is made of ---------------------------------------------------------------
    def _make_blobs(self) -> None:
        engine = self._engine
        self.blobs: OrderedDict[str, Blob] = OrderedDict()
        self.blob_loss_weights: OrderedDict[str, float] = OrderedDict()
        for wiring in engine.wirings:
            for top, weight in zip(wiring.tops, wiring.loss_weights):
                if top not in self.blobs:
                    self.blobs[top] = Blob(engine.blob_shapes[top])
                    self.blob_loss_weights[top] = 0.0
                if weight:
                    self.blob_loss_weights[top] = float(weight)
                    self.blobs[top].diff_fill = float(weight)
                    self.blobs[top]._diff.fill_(float(weight))
        self._pass: passes.Pass | None = None

    def _make_layers(self) -> None:
        blobs_of: dict[int, ParamBlob] = {}
        self.layers: list[Layer] = []
        for layer in self._engine.layers:
            mine = [blobs_of.setdefault(id(p), ParamBlob(p)) for p in layer.blobs]
            self.layers.append(Layer(layer.name, layer.param.type, mine))
        self.layer_dict = OrderedDict((layer.name, layer) for layer in self.layers)

    def _param_blobs(self) -> list[ParamBlob]:
        seen: dict[int, ParamBlob] = {}
        for layer in self.layers:
            for blob in layer.blobs:
                seen.setdefault(id(blob), blob)
        return list(seen.values())

    def _layer_param_blobs(self, index: int) -> list[ParamBlob]:
        return self.layers[index].blobs

    @property
    def params(self) -> OrderedDict:
        """Layer name -> its param blobs, for the layers that have any (pycaffe's ``net.params``)."""
        return OrderedDict((layer.name, layer.blobs) for layer in self.layers if layer.blobs)

    @property
    def _layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    @property
    def _blob_names(self) -> list[str]:
        return list(self.blobs)

    @property
    def inputs(self) -> list[str]:
        """The tops of the Input layers (Caffe's ``net_input_blobs_``)."""
        return passes._input_tops(self._engine)

    @property
    def outputs(self) -> list[str]:
        """Blobs no layer consumes, in name order (Caffe's ``net_output_blobs_``)."""
        return list(self._engine.output_names)

    @property
    def top_names(self) -> OrderedDict:
        return OrderedDict((w.name, list(w.tops)) for w in self._engine.wirings)

    @property
    def bottom_names(self) -> OrderedDict:
        return OrderedDict((w.name, list(w.bottoms)) for w in self._engine.wirings)

    @property
    def phase(self) -> int:
        return self._engine.phase

    def _index(self, layer_name: str) -> int:
        names = self._layer_names
        if layer_name not in names:
            raise PycaffeError(f"no layer '{layer_name}' in this net; its layers: {', '.join(names)}")
        return names.index(layer_name)

    # -- passes ---------------------------------------------------------------------------------
    def forward(self, blobs=None, start=None, end=None, **kwargs) -> dict:
        """pycaffe's ``Net.forward``: Input tops from ``kwargs`` (else as the blobs hold them), layers
        ``start``..``end``; returns {name: the blob's data} for the outputs (or ``end``'s tops) and ``blobs``."""
        start_ind = 0 if start is None else self._index(start)
        end_ind = len(self.layers) - 1 if end is None else self._index(end)
        names = list(self._engine.wirings[end_ind].tops) if end is not None else self.outputs
        batches.set_inputs(self, kwargs, self.inputs, "Input blob arguments do not match net inputs.")
        with _as_runtime_error():
            self._pass = passes.forward(self, start_ind, end_ind)
        return {name: self.blobs[name].data for name in dict.fromkeys(names + list(blobs or []))}

    def backward(self, diffs=None, start=None, end=None, **kwargs) -> dict:
        """pycaffe's ``Net.backward``: output diffs from ``kwargs`` (else as the blobs hold them), layers
        ``start`` down to ``end``; returns {name: the blob's diff} for the inputs (or ``end``) and ``diffs``."""
        start_ind = len(self.layers) - 1 if start is None else self._index(start)
        end_ind = 0 if end is None else self._index(end)
        names = list(self._engine.wirings[end_ind].bottoms) if end is not None else self.inputs
        batches.set_diffs(self, kwargs)
        with _as_runtime_error():
            passes.backward(self, self._pass, start_ind, end_ind)
        return {name: self.blobs[name].diff for name in dict.fromkeys(names + list(diffs or []))}

    def forward_all(self, blobs=None, **kwargs) -> dict:
        """Forward every batch of ``kwargs`` (pycaffe's ``forward_all``); outputs stacked, padding cut."""
        return batches.forward_all(self, blobs, kwargs)

    def forward_backward_all(self, blobs=None, diffs=None, **kwargs) -> tuple[dict, dict]:
        """Forward and backward every batch (pycaffe's ``forward_backward_all``)."""
        return batches.forward_backward_all(self, blobs, diffs, kwargs)

    def set_input_arrays(self, data, labels) -> None:
        """pycaffe's ``set_input_arrays`` for a net whose first layer is a MemoryData (see ``memory_data``)."""
        from tunewiz.pycaffe.memory_data import set_input_arrays

        with _as_runtime_error():
            set_input_arrays(self._engine, data, labels)

    def reshape(self) -> None:
        """Every blob takes the shape its layer gives for the input blobs' current shapes (Caffe's
        ``Net::Reshape``); data layers keep their tops (no batch is read)."""
        with _as_runtime_error():
            passes.forward(self, 0, len(self.layers) - 1, keep_data_layers=True, record=False)
        self._pass = None

    # -- weights --------------------------------------------------------------------------------
    def copy_from(self, path) -> None:
        """Caffe's ``CopyTrainedLayersFrom``: blobs by layer name (``a.caffemodel,b.caffemodel`` in order)."""
        from tunewiz.engine.net.weights import copy_trained_layers

        with _as_runtime_error():
            copy_trained_layers(self._engine, path)
        for blob in self._param_blobs():
            blob.pull()

    def share_with(self, other: "Net") -> None:
        """Caffe's ``ShareTrainedLayersWith``: same-name layers use ``other``'s param blobs."""
        from tunewiz.engine.train.nets import share_trained_layers

        with _as_runtime_error():
            share_trained_layers(self._engine, other._engine)
        by_param = {id(b.param): b for b in other._param_blobs()}
        for mine, layer in zip(self.layers, self._engine.layers):
            mine.blobs = [by_param.get(id(p)) or ParamBlob(p) for p in layer.blobs]

    def save(self, path) -> None:
        """Write the weights as a .caffemodel laid out as Caffe's ``Net::ToProto`` + ``WriteProtoToBinaryFile``."""
        from tunewiz.engine.net.weights import save_caffemodel

        for blob in self._param_blobs():
            blob.push()
        with _as_runtime_error():
            save_caffemodel(self._engine, str(path))

    def save_hdf5(self, path) -> None:
        """Write the weights as Caffe's HDF5 weights (``Net::ToHDF5``; needs ``tunewiz[hdf5]``)."""
        from tunewiz.pycaffe import hdf5

        hdf5.save(self, path)

    def load_hdf5(self, path) -> None:
        """Copy weights by layer name from Caffe's HDF5 weights (``CopyTrainedLayersFromHDF5``)."""
        from tunewiz.pycaffe import hdf5

        hdf5.load(self, path)

    def clear_param_diffs(self) -> None:
        """Zero every param diff (Caffe's ``ClearParamDiffs``)."""
        for blob in self._param_blobs():
            blob.diff[...] = 0
            blob.push()

    def __repr__(self) -> str:
        return f"<Net {self._engine.name!r} phase {'TRAIN' if self.phase == mode.TRAIN else 'TEST'}>"
