"""Our caffe.proto matches Caffe's field tables, and the committed caffe_pb2 matches caffe.proto."""
import importlib.util
import sys
from pathlib import Path

import pytest

from tunewiz.caffe import caffe_pb2

ROOT = Path(__file__).resolve().parents[2]
TABLES = Path(__file__).resolve().parents[1] / "fixtures" / "caffe-format"


def _load_gen_proto():
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "tools" / "gen_proto.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_proto_is_generated_from_the_tables():
    gen = _load_gen_proto()
    text = gen.render(gen.read_tsv(TABLES / "fields.tsv"), gen.read_tsv(TABLES / "enums.tsv"))
    assert (ROOT / "tunewiz" / "caffe" / "caffe.proto").read_text() == text + "\n", (
        "caffe.proto is stale: run python tools/gen_proto.py"
    )


def test_committed_pb2_matches_proto():
    pytest.importorskip("grpc_tools")
    from tunewiz.caffe.pb2gen import render, serialized_descriptor

    expected = render(serialized_descriptor(ROOT / "tunewiz" / "caffe" / "caffe.proto"))
    assert (ROOT / "tunewiz" / "caffe" / "caffe_pb2.py").read_text() == expected, (
        "caffe_pb2.py is stale: run python tools/gen_proto.py"
    )


def _label(field) -> str:
    if hasattr(field, "label"):  # protobuf < 7
        return {1: "optional", 2: "required", 3: "repeated"}[field.label]
    return "repeated" if field.is_repeated else ("required" if field.is_required else "optional")


def test_every_field_of_the_tables_is_in_the_schema():
    gen = _load_gen_proto()
    for row in gen.read_tsv(TABLES / "fields.tsv"):
        cls = caffe_pb2
        for part in row["message"].split("."):
            cls = getattr(cls, part)
        field = cls.DESCRIPTOR.fields_by_name[row["field"]]
        assert field.number == int(row["number"]), row
        assert _label(field) == row["label"], row
        if row["default"] and row["type"] not in ("message",):
            default = field.default_value
            if row["type"] == "enum":
                default = field.enum_type.values_by_number[default].name
            elif row["type"] == "bool":
                default = str(default).lower()
            elif row["type"] in ("float", "double"):
                assert default == pytest.approx(float(row["default"]), rel=1e-6), row
                continue
            assert str(default) == row["default"], row


def test_every_enum_value_is_in_the_schema():
    gen = _load_gen_proto()
    for row in gen.read_tsv(TABLES / "enums.tsv"):
        obj = caffe_pb2
        for part in row["enum"].split("."):
            obj = getattr(obj, part)
        assert obj.Value(row["value"]) == int(row["number"]), row


def test_pb2_imports_in_a_fresh_interpreter():
    import subprocess

    code = "from tunewiz.caffe import caffe_pb2; print(caffe_pb2.SolverParameter().type)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "SGD"
