"""``tunewiz.pycaffe.draw`` (pycaffe's ``caffe.draw``): the graph real pycaffe builds (recorded through a
stand-in pydot in ``tests/fixtures/pycaffe_draw``, see its ``make_fixture.py``), drawing to a file, and
the one line a missing pydot gives (pydot is an optional extra)."""
import json
import sys
import types
from pathlib import Path

import pytest
from google.protobuf import text_format

from tunewiz.caffe import caffe_pb2
from tunewiz.pycaffe import draw
from tunewiz.pycaffe.errors import PycaffeError

ROOT = Path(__file__).resolve().parents[2]
GRAPHS = json.loads((ROOT / "tests" / "fixtures" / "pycaffe_draw" / "graphs.json").read_text())
TINY = ROOT / "tests" / "fixtures" / "pycaffe_hdf5" / "tiny.prototxt"


class Node:
    def __init__(self, name, **attrs):
        self.name, self.attrs = name, attrs


class Edge:
    def __init__(self, src, dst, label):
        self.src, self.dst, self.label = src.name, dst.name, label


class Dot:
    image = b"\x89PNG drawn"

    def __init__(self, name, **attrs):
        self.name, self.attrs, self.nodes, self.edges = name, attrs, [], []

    def add_node(self, node):
        self.nodes.append([node.name, node.attrs])

    def add_edge(self, edge):
        self.edges.append([edge.src, edge.dst, edge.label])

    def create(self, format):
        if format == "nodot":
            raise FileNotFoundError(2, '"dot" not found in path.')
        return self.image + format.encode()


@pytest.fixture
def pydot(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydotplus", None)
    monkeypatch.setitem(sys.modules, "pydot", types.SimpleNamespace(Node=Node, Edge=Edge, Dot=Dot))


def _net(path) -> caffe_pb2.NetParameter:
    return text_format.Merge(Path(path).read_text(), caffe_pb2.NetParameter())


def _case_id(case) -> str:
    return f"{Path(case['net']).stem}-{'-'.join(map(str, case['args'].values()))}"


@pytest.mark.parametrize("case", GRAPHS, ids=_case_id)
def test_the_graph_is_pycaffes(pydot, case):
    graph = draw.get_pydot_graph(_net(ROOT / case["net"]), **case["args"])
    assert (graph.name, graph.attrs) == (case["name"], case["attrs"])
    assert graph.nodes == case["nodes"] and graph.edges == case["edges"]


def test_phase_filters_layers(pydot):
    net = _net(ROOT / GRAPHS[0]["net"])
    names = {phase: {n for n, _ in draw.get_pydot_graph(net, "LR", phase=phase).nodes} for phase in (None, 0, 1)}
    assert names[0] < names[1] == names[None]  # the accuracy layer is TEST's only
    net.layer[0].exclude.add(phase=caffe_pb2.TEST)
    with pytest.raises(ValueError, match="both include and exclude"):
        draw.get_pydot_graph(net, "LR", phase=caffe_pb2.TRAIN)


def test_lr_mult_only_for_learning_layers():
    layer = caffe_pb2.LayerParameter(name="ip", type="InnerProduct")
    assert draw.get_layer_lr_mult(layer) == (1.0, 1.0)
    layer.param.add(lr_mult=0.5)
    assert draw.get_layer_lr_mult(layer) == (0.5, 1.0)
    layer.param.add(lr_mult=2)
    assert draw.get_layer_lr_mult(layer) == (0.5, 2.0)
    with pytest.raises(ValueError, match="ReLU layers do not have a learning rate multiplier"):
        draw.get_layer_lr_mult(caffe_pb2.LayerParameter(name="r", type="ReLU"))


def test_draw_net_to_file_uses_the_extension(pydot, tmp_path):
    assert draw.draw_net(_net(TINY), "LR", ext="svg") == Dot.image + b"svg"
    out = tmp_path / "tiny.net.png"
    draw.draw_net_to_file(_net(TINY), str(out))
    assert out.read_bytes() == Dot.image + b"png"


def test_without_dot_one_runtime_error(pydot, tmp_path):
    with pytest.raises(RuntimeError, match="install Graphviz's dot program") as info:
        draw.draw_net_to_file(_net(TINY), str(tmp_path / "x.nodot"))
    assert isinstance(info.value, PycaffeError) and "\n" not in str(info.value)


def test_without_pydot_one_line_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydotplus", None)
    monkeypatch.setitem(sys.modules, "pydot", None)
    with pytest.raises(RuntimeError, match=r"pip install 'tunewiz\[draw\]'") as info:
        draw.get_pydot_graph(_net(TINY), "LR")
    assert "\n" not in str(info.value)


def test_real_pydot_writes_dot_text():
    pytest.importorskip("pydot")
    text = draw.get_pydot_graph(_net(TINY), "TB").to_string()
    assert text.startswith("digraph tiny_hdf5 {") and '"conv (Convolution) kernel size: 3 stride: 1 pad: 0"' in text


def test_pydot_is_the_draw_extra():
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["optional-dependencies"]["draw"] == ["pydot>=1.4"]
