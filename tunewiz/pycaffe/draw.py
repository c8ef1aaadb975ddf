"""pycaffe's ``caffe.draw``: a NetParameter as a Graphviz graph (pydot), drawn to an image.

Layers are record nodes (coloured by type: Convolution/Deconvolution red, Pooling orange,
InnerProduct purple; in-place neuron layers green), blobs are grey octagons for bottoms, edges run
blob -> layer -> blob and are labelled with the batch size or ``num_output``; ``phase`` keeps the
layers that NetState rules include, as pycaffe does.  pydot is an optional extra
(``pip install tunewiz[draw]``, imported on first use; pydotplus is used when installed, as pycaffe
does); rendering needs Graphviz's ``dot`` program.
"""
from __future__ import annotations

from tunewiz.caffe import caffe_pb2
from tunewiz.pycaffe.errors import PycaffeError

LAYER_STYLE_DEFAULT = {"shape": "record", "fillcolor": "#6495ED", "style": "filled"}
NEURON_LAYER_STYLE = {"shape": "record", "fillcolor": "#90EE90", "style": "filled"}
BLOB_STYLE = {"shape": "octagon", "fillcolor": "#E0E0E0", "style": "filled"}
_LAYER_COLORS = {"Convolution": "#FF5050", "Deconvolution": "#FF5050", "Pooling": "#FF9900",
                 "InnerProduct": "#CC33FF"}
_LEARNING = ("Convolution", "Deconvolution", "InnerProduct")


def _pydot():
    """pydotplus or pydot, or one line saying how to get it."""
    try:
        import pydotplus as pydot
    except ImportError:
        try:
            import pydot
        except ImportError:
            raise PycaffeError("drawing a net needs pydot: pip install 'tunewiz[draw]' (or pip install pydot)"
                               ) from None
    return pydot


def get_pooling_types_dict() -> dict[int, str]:
    """Pooling method number -> its name (``MAX``, ``AVE``, ``STOCHASTIC``)."""
    return {v.number: k for k, v in caffe_pb2.PoolingParameter.PoolMethod.DESCRIPTOR.values_by_name.items()}


def get_edge_label(layer) -> str:
    """The label of a layer's top edges: the batch size of a Data layer, ``num_output`` of a learning one."""
    if layer.type == "Data":
        return "Batch " + str(layer.data_param.batch_size)
    if layer.type in ("Convolution", "Deconvolution"):
        return str(layer.convolution_param.num_output)
    if layer.type == "InnerProduct":
        return str(layer.inner_product_param.num_output)
    return '""'


def get_layer_lr_mult(layer) -> tuple[float, float]:
    """The weights' and biases' lr_mult of a Convolution, Deconvolution or InnerProduct layer."""
    if layer.type not in _LEARNING:
        raise ValueError(f"{layer.type} layers do not have a learning rate multiplier")
    mults = [p.lr_mult for p in layer.param]
    if len(mults) > 2:
        raise ValueError("Could not parse the learning rate multiplier")
    return tuple(mults + [1.0] * (2 - len(mults)))


def _spatial(layer, separator: str) -> str:
    """Kernel size, stride and pad of a Convolution, Deconvolution or Pooling layer."""
    if layer.type == "Pooling":
        p = layer.pooling_param
        kernel, stride, pad = p.kernel_size, p.stride, p.pad
    else:
        c = layer.convolution_param
        kernel = c.kernel_size[0] if len(c.kernel_size) else 1
        stride = c.stride[0] if len(c.stride) else 1
        pad = c.pad[0] if len(c.pad) else 0
    return separator.join([f"kernel size: {kernel}", f"stride: {stride}", f"pad: {pad}"])


def get_layer_label(layer, rankdir: str, display_lrm: bool = False) -> str:
    """A layer node's label: name, (type), spatial params, optionally lr mults; quoted for dot."""
    separator = " " if rankdir in ("TB", "BT") else r"\n"  # vertical layouts have room across
    if layer.type == "Pooling":
        kind = f"({layer.type} {get_pooling_types_dict()[layer.pooling_param.pool]})"
    else:
        kind = f"({layer.type})"
    parts = [layer.name, kind]
    if layer.type in ("Convolution", "Deconvolution", "Pooling"):
        parts.append(_spatial(layer, separator))
    if display_lrm and layer.type in _LEARNING:
        lrm0, lrm1 = get_layer_lr_mult(layer)
        if lrm0 or lrm1:
            parts.append(f"lr mult: {lrm0:.1f}, {lrm1:.1f}")
    return '"%s"' % separator.join(parts)  # the quotes keep dot from reading colons


def choose_color_by_layertype(layertype: str) -> str:
    """A layer node's fill colour."""
    return _LAYER_COLORS.get(layertype, "#6495ED")


def _included(layer, phase) -> bool:
    """pycaffe's phase filter: no include rule, or a rule of ``phase``, and no exclude of it."""
    if phase is None:
        return True
    if len(layer.include) and len(layer.exclude):
        raise ValueError(f"layer {layer.name} has both include and exclude specified.")
    included = not len(layer.include) or any(rule.phase == phase for rule in layer.include)
    return included and not any(rule.phase == phase for rule in layer.exclude)


def get_pydot_graph(caffe_net, rankdir, label_edges=True, phase=None, display_lrm=False):
    """A pydot ``Dot`` graph of ``caffe_net`` (a NetParameter), the layers of ``phase`` (None: all)."""
    pydot = _pydot()
    graph = pydot.Dot(caffe_net.name or "Net", graph_type="digraph", rankdir=rankdir)
    nodes, edges = {}, []
    for layer in caffe_net.layer:
        if not _included(layer, phase):
            continue
        node_name = f"{layer.name}_{layer.type}"
        label = get_layer_label(layer, rankdir, display_lrm=display_lrm)
        if len(layer.bottom) == 1 and len(layer.top) == 1 and layer.bottom[0] == layer.top[0]:
            nodes[node_name] = pydot.Node(label, **NEURON_LAYER_STYLE)  # an in-place neuron layer
        else:
            style = dict(LAYER_STYLE_DEFAULT, fillcolor=choose_color_by_layertype(layer.type))
            nodes[node_name] = pydot.Node(label, **style)
        for bottom in layer.bottom:
            nodes[bottom + "_blob"] = pydot.Node(bottom, **BLOB_STYLE)
            edges.append((bottom + "_blob", node_name, '""'))
        for top in layer.top:
            nodes[top + "_blob"] = pydot.Node(top)
            edges.append((node_name, top + "_blob", get_edge_label(layer) if label_edges else '""'))
    for node in nodes.values():
        graph.add_node(node)
    for src, dst, label in edges:
        graph.add_edge(pydot.Edge(nodes[src], nodes[dst], label=label))
    return graph


def draw_net(caffe_net, rankdir, ext="png", phase=None, display_lrm=False) -> bytes:
    """The net drawn as an image in format ``ext`` (Graphviz's ``dot`` renders it)."""
    graph = get_pydot_graph(caffe_net, rankdir, phase=phase, display_lrm=display_lrm)
    try:
        return graph.create(format=ext)
    except (OSError, AssertionError) as exc:  # pydot: no dot program (OSError), or dot failed (AssertionError)
        raise PycaffeError(f"Graphviz could not draw the net as {ext}: {exc} (install Graphviz's dot program, "
                           "e.g. apt install graphviz)") from exc


def draw_net_to_file(caffe_net, filename, rankdir="LR", phase=None, display_lrm=False) -> None:
    """Draw the net into ``filename``, in the format its extension names (``.raw``: dot's own text)."""
    ext = filename[filename.rfind(".") + 1:]
    image = draw_net(caffe_net, rankdir, ext, phase, display_lrm)
    with open(filename, "wb") as handle:
        handle.write(image)
