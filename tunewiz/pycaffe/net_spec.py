"""pycaffe's ``NetSpec``, ``layers`` (``L``), ``params`` (``P``) and ``to_proto``: write a net in Python.

    from tunewiz.pycaffe.net_spec import NetSpec, layers as L, params as P
    n = NetSpec()
    n.data, n.label = L.Data(batch_size=64, backend=P.Data.LMDB, source='train_lmdb', ntop=2,
                             transform_param=dict(scale=1./255))
    n.conv1 = L.Convolution(n.data, kernel_size=5, num_output=20, weight_filler=dict(type='xavier'))
    n.loss = L.SoftmaxWithLoss(n.conv1, n.label)
    open('train.prototxt', 'w').write(str(n.to_proto()))

``to_proto`` gives a tunewiz ``caffe_pb2.NetParameter`` equal, field for field, to the one Caffe's
``python/caffe/net_spec.py`` builds for the same spec, so it prints the same text.  The rules kept:

- ``L.<Type>(*bottoms, **keywords)`` is one layer of that type.  A keyword ending in ``param``
  (``param``, ``transform_param``, ``python_param``) is a field of the layer; any other goes into the
  layer's own ``<type>_param`` (``Convolution`` -> ``convolution_param``, ``Python`` -> ``python_param``)
  when that message has the field, else into the layer (``loss_weight``, ``include``, ``phase``).
- Lists fill repeated fields, a lone value fills one as a one-item list, dicts become messages (a list
  of dicts repeated messages: ``param=[dict(lr_mult=1), dict(lr_mult=2)]``).
- ``ntop=k`` gives k tops (a tuple; ``ntop=0`` gives the layer itself, e.g. ``Silence``);
  ``in_place=True`` makes the tops the bottoms.
- Names: a top assigned to the NetSpec takes that attribute's name, and a layer takes the name of its
  first top (an ``ntop=0`` layer: its own); unnamed ones become ``<Type><count>`` (``Pooling1``),
  counted per type in the order ``to_proto`` meets them.  Layers are listed in assignment order, each
  after the layers it needs; only layers some assigned top needs are listed.
- ``P.Pooling.MAX``: the enum value ``MAX`` of ``PoolingParameter``.
"""
from __future__ import annotations

from collections import Counter, OrderedDict

from google.protobuf.message import Message

from ..caffe import caffe_pb2


class SpecError(AttributeError):
    """A keyword that no field of the layer takes (an ``AttributeError``, as pycaffe raises)."""


class MissingTop(AttributeError, KeyError):
    """A NetSpec has no top of that name (pycaffe raises ``KeyError``; ``hasattr`` wants ``AttributeError``)."""

    def __str__(self) -> str:
        return self.args[0]


def param_name_dict() -> dict[str, str]:
    """{layer type: the stem of its ``*_param`` field}, from LayerParameter's fields (``Convolution``:
    ``convolution``).  A field's message type names the layer type (``PReLUParameter`` -> ``PReLU``)."""
    names = {}
    for field in caffe_pb2.LayerParameter.DESCRIPTOR.fields:
        if field.name.endswith("_param") and field.message_type is not None:
            names[field.message_type.name[: -len("Parameter")]] = field.name[: -len("_param")]
    return names


def _is_repeated(container) -> bool:
    return hasattr(container, "extend")


def assign_proto(proto: Message, name: str, val) -> None:
    """Set field ``name`` of ``proto`` from a Python value: a list fills a repeated field (a lone value
    becomes a one-item list), a dict fills a message (a list of dicts: one message each), anything else
    is assigned as it is."""
    if name not in proto.DESCRIPTOR.fields_by_name:
        raise SpecError(f"{proto.DESCRIPTOR.name} has no field '{name}'")
    current = getattr(proto, name)
    if isinstance(val, tuple):
        val = list(val)
    if _is_repeated(current) and not isinstance(val, list):
        val = [val]
    if isinstance(val, list):
        _assign_list(proto, name, current, val)
    elif isinstance(val, dict):
        for key, item in val.items():
            assign_proto(current, key, item)
    elif isinstance(val, Message):
        current.CopyFrom(val)
    else:
        setattr(proto, name, val)


def _assign_list(proto: Message, name: str, current, val: list) -> None:
    if not _is_repeated(current):
        raise SpecError(f"{proto.DESCRIPTOR.name}.{name} holds one value, not a list ({val!r})")
    if val and isinstance(val[0], dict):
        for item in val:
            added = current.add()
            for key, value in item.items():
                assign_proto(added, key, value)
    else:
        current.extend(val)


class Top:
    """One output blob of a layer: the ``n``-th top of ``fn``."""

    def __init__(self, fn: "Function", n: int):
        self.fn = fn
        self.n = n

    def to_proto(self) -> caffe_pb2.NetParameter:
        """A NetParameter with every layer this top needs (all names made up)."""
        return to_proto(self)

    def _to_proto(self, layers, names, autonames) -> None:
        self.fn._to_proto(layers, names, autonames)


class Function:
    """One layer: its type, its bottoms (Tops of other layers) and its keywords."""

    def __init__(self, type_name: str, inputs, params: dict):
        self.type_name = type_name
        for index, bottom in enumerate(inputs):
            if not isinstance(bottom, Top):
                raise TypeError(f"{type_name} input {index} is not a Top (type is {type(bottom)})")
        self.inputs = inputs
        self.params = dict(params)
        self.ntop = self.params.pop("ntop", 1)
        self.in_place = self.params.pop("in_place", False)
        self.tops = tuple(Top(self, n) for n in range(self.ntop))

    def _get_name(self, names, autonames) -> str:
        """The layer's name: its own (an assigned ``ntop=0`` layer), its first top's, or ``<Type><count>``."""
        if self not in names and self.ntop > 0:
            names[self] = self._get_top_name(self.tops[0], names, autonames)
        elif self not in names:
            autonames[self.type_name] += 1
            names[self] = self.type_name + str(autonames[self.type_name])
        return names[self]

    def _get_top_name(self, top: Top, names, autonames) -> str:
        if top not in names:
            autonames[top.fn.type_name] += 1
            names[top] = top.fn.type_name + str(autonames[top.fn.type_name])
        return names[top]

    def _to_proto(self, layers, names, autonames) -> None:
        """Add this layer to ``layers`` (after the layers of its bottoms), naming what has no name yet."""
        if self in layers:
            return
        bottom_names = []
        for bottom in self.inputs:
            bottom._to_proto(layers, names, autonames)
            bottom_names.append(layers[bottom.fn].top[bottom.n])
        layer = caffe_pb2.LayerParameter()
        layer.type = self.type_name
        layer.bottom.extend(bottom_names)
        if self.in_place:
            layer.top.extend(layer.bottom)
        else:
            layer.top.extend(self._get_top_name(top, names, autonames) for top in self.tops)
        layer.name = self._get_name(names, autonames)
        for key, value in self.params.items():
            self._assign(layer, key, value)
        layers[self] = layer

    def _assign(self, layer: caffe_pb2.LayerParameter, key: str, value) -> None:
        """``key`` into the layer's ``<type>_param`` where that message has the field, else the layer."""
        stem = _param_names.get(self.type_name)
        own = getattr(layer, stem + "_param") if stem and not key.endswith("param") else None
        if own is not None and key in own.DESCRIPTOR.fields_by_name:
            assign_proto(own, key, value)
            return
        if key not in layer.DESCRIPTOR.fields_by_name:
            where = f"{stem}_param or the layer" if own is not None else "the layer"
            if stem is None:
                where += _no_own_param(self.type_name)
            raise SpecError(f"layer '{layer.name}' ({self.type_name}): no field '{key}' in {where}")
        assign_proto(layer, key, value)


def _no_own_param(type_name: str) -> str:
    """Why a keyword found no home: the type has no ``*_param`` (a misspelt type, or one like
    Deconvolution that borrows another's)."""
    same = [known for known in _param_names if known.lower() == type_name.lower()]
    if same:
        return f" (no layer type '{type_name}' has its own parameters: did you mean L.{same[0]}?)"
    return f" ({type_name} has no {type_name.lower()}_param: pass e.g. convolution_param=dict(...))"


class NetSpec:
    """Tops assigned as attributes (or items), in order; ``to_proto`` lists every layer they need,
    named after the attributes."""

    def __init__(self):
        super().__setattr__("tops", OrderedDict())

    def __setattr__(self, name: str, value) -> None:
        self.tops[name] = value

    def __getattr__(self, name: str):
        try:
            return self.tops[name]
        except KeyError:
            raise MissingTop(f"this NetSpec has no top '{name}'") from None

    def __setitem__(self, key: str, value) -> None:
        self.__setattr__(key, value)

    def __getitem__(self, item: str):
        return self.__getattr__(item)

    def to_proto(self) -> caffe_pb2.NetParameter:
        """The NetParameter of every layer the assigned tops need (a top assigned twice: its last name)."""
        names = {top: name for name, top in self.tops.items()}
        autonames: Counter = Counter()
        layers: OrderedDict = OrderedDict()
        for top in self.tops.values():
            top._to_proto(layers, names, autonames)
        return _net_of(layers)


def to_proto(*tops) -> caffe_pb2.NetParameter:
    """A NetParameter of every layer ``tops`` need, all names made up (``<Type><count>``)."""
    layers: OrderedDict = OrderedDict()
    autonames: Counter = Counter()
    for top in tops:
        top.fn._to_proto(layers, {}, autonames)
    return _net_of(layers)


def _net_of(layers: OrderedDict) -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter()
    net.layer.extend(layers.values())
    return net


class Layers:
    """``L.Convolution(bottom, kernel_size=3)``: a function per layer type, made on first use (any name
    is a type, as in Caffe; the engine says later whether it knows it)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)

        def layer_fn(*args, **kwargs):
            fn = Function(name, args, kwargs)
            if fn.ntop == 0:
                return fn
            if fn.ntop == 1:
                return fn.tops[0]
            return fn.tops

        layer_fn.__name__ = name
        return layer_fn


class _Enums:
    """``P.<Layer>``: the enum values of ``<Layer>Parameter`` (``P.Pooling.MAX``)."""

    def __init__(self, layer: str):
        self._layer = layer

    def __getattr__(self, value: str):
        message = getattr(caffe_pb2, self._layer + "Parameter", None)
        if message is None:
            raise AttributeError(f"caffe.proto has no message {self._layer}Parameter")
        try:
            return getattr(message, value)
        except AttributeError:
            raise AttributeError(f"{self._layer}Parameter has no value '{value}'") from None


class Parameters:
    """``P.Pooling.MAX``, ``P.Data.LMDB``: constants for layer parameters."""

    def __getattr__(self, name: str) -> _Enums:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Enums(name)


_param_names = param_name_dict()
layers = Layers()
params = Parameters()
