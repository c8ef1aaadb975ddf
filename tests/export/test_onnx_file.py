"""The ONNX file: opset >= 17, inputs and outputs named as the deploy's blobs with a "batch" axis, the weights
inside; a blob named like one of the exporter's inner values ("log") still gets its name."""
from __future__ import annotations

import numpy as np
import pytest

from tests.export import nets
from tunewiz.export.run import Targets, export_files

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")


def test_names_batch_axis_opset_and_embedded_weights(tmp_path):
    model, weights = nets.write_net(tmp_path, "mix", nets.layer_mix())
    export_files(str(model), str(weights), Targets(onnx=str(tmp_path / "m.onnx")))
    proto = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(proto)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert [v.name for v in proto.graph.input] == ["data", "extra"]
    assert [v.name for v in proto.graph.output] == ["cat2", "fc_flat", "soft"]
    for value in (*proto.graph.input, *proto.graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 4
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    assert not list(tmp_path.glob("*.data"))


def test_a_blob_named_like_an_inner_value(tmp_path):
    text = nets._INPUT.format(c=2, h=3, w=3) + (
        'layer { name: "exp" type: "Exp" bottom: "data" top: "exp" }\n'
        'layer { name: "log" type: "Log" bottom: "exp" top: "log" log_param { shift: 1 } }\n')
    model, weights = nets.write_net(tmp_path, "log", text)
    export_files(str(model), str(weights), Targets(onnx=str(tmp_path / "l.onnx")))
    session = onnxruntime.InferenceSession(str(tmp_path / "l.onnx"), providers=["CPUExecutionProvider"])
    x = np.linspace(-2, 2, 18, dtype=np.float32).reshape(1, 2, 3, 3)
    (got,) = session.run(["log"], {"data": x})
    assert np.allclose(got, np.log(np.exp(x) + 1), rtol=1e-6)
