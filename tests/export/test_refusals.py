"""Layers that cannot be exported with the same numbers stop the export with one message naming the layer,
its type and why; nothing is written."""
from __future__ import annotations

import pytest

from tests.export import nets
from tunewiz.export.errors import ExportError
from tunewiz.export.run import Targets, export_files

pytest.importorskip("onnxruntime")

_IN = 'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }\n'


def _export(tmp_path, text: str, **targets):
    model, weights = nets.write_net(tmp_path, "n", text)
    targets = {k: str(tmp_path / v) for k, v in targets.items()}
    return export_files(str(model), str(weights), Targets(**targets))


@pytest.mark.parametrize("layer,message", [
    ('layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" batch_norm_param { use_global_stats: false } }',
     "layer 'bn' (BatchNorm): uses the statistics of each batch"),
    ('layer { name: "drop" type: "Dropout" bottom: "data" top: "drop" phase: TRAIN }',
     "layer 'drop' (Dropout): draws random numbers on every pass in the TRAIN phase"),
    ('layer { name: "noise" type: "DummyData" top: "noise" dummy_data_param { shape { dim: 1 dim: 3 } '
     'data_filler { type: "gaussian" } } }', "layer 'noise' (DummyData): a data layer reads its batches"),
    ('layer { name: "label" type: "Input" top: "label" input_param { shape { dim: 1 dim: 1 dim: 4 dim: 4 } } }\n'
     'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "data" bottom: "label" top: "loss" }',
     "layer 'loss' (SoftmaxWithLoss): needs labels"),
])
def test_a_layer_that_cannot_export_is_named(tmp_path, layer, message):
    with pytest.raises(ExportError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        _export(tmp_path, _IN + layer + "\n", onnx="n.onnx", torch="n.pt2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.caffemodel", "n.prototxt"]


def test_a_layer_that_fixes_the_batch_size_is_named(tmp_path):
    """InnerProduct over axis 0 takes the whole batch as one row: its weights fix the number of images."""
    text = _IN + ('layer { name: "all" type: "InnerProduct" bottom: "data" top: "all" '
                  'inner_product_param { num_output: 2 axis: 0 } }\n')
    with pytest.raises(ExportError, match=r"^layer 'all' \(InnerProduct\): fixes the batch size"):
        _export(tmp_path, text, torch="n.pt2")
    assert not (tmp_path / "n.pt2").exists()


def test_a_layer_onnx_cannot_hold_is_named_and_the_pt2_still_exports(tmp_path):
    """Caffe's ArgMax orders ties by index, through a stable sort; ONNX has none."""
    text = _IN + 'layer { name: "top2" type: "ArgMax" bottom: "data" top: "top2" argmax_param { top_k: 2 axis: 1 } }\n'
    with pytest.raises(ExportError, match=r"^layer 'top2': cannot be written as ONNX \(ONNX has no form for "
                                          r"aten\.sort\.stable\); --torch OUT\.pt2 exports it"):
        _export(tmp_path, text, onnx="n.onnx")
    assert not (tmp_path / "n.onnx").exists()
    written = _export(tmp_path, text, torch="n.pt2")
    assert written[0].agreement.max_rel == 0


def test_an_output_that_is_also_an_input_is_refused(tmp_path):
    text = _IN + 'layer { name: "relu" type: "ReLU" bottom: "data" top: "data" }\n'
    with pytest.raises(ExportError, match="blob 'data' is both an input and an output"):
        _export(tmp_path, text, torch="n.pt2")


def test_a_layer_whose_shapes_follow_the_batch_size_is_named(tmp_path):
    """Slice over axis 0 cuts the batch at fixed points: torch.export fixes the batch at the traced size."""
    text = _IN.replace("dim: 1 dim: 3", "dim: 2 dim: 3") + (
        'layer { name: "cut" type: "Slice" bottom: "data" top: "a" top: "b" slice_param { axis: 0 } }\n')
    with pytest.raises(ExportError, match=r"^layer 'cut' \(Slice\): fixes the batch size \(its shape depends"):
        _export(tmp_path, text, torch="n.pt2")


def test_a_batch_reindex_fed_its_indices_as_an_input_is_named(tmp_path):
    """The written files are checked on random inputs, which are no item indices."""
    text = _IN + ('layer { name: "idx" type: "Input" top: "idx" input_param { shape { dim: 1 } } }\n'
                  'layer { name: "pick" type: "BatchReindex" bottom: "data" bottom: "idx" top: "pick" }\n')
    with pytest.raises(ExportError, match=r"^layer 'pick' \(BatchReindex\): picks items by the values of input 'idx'"):
        _export(tmp_path, text, onnx="n.onnx", torch="n.pt2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.caffemodel", "n.prototxt"]
