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


_TYPES = {"bool": 8, "bytes": 12, "double": 1, "enum": 14, "float": 2, "int32": 5, "int64": 3,
          "message": 11, "string": 9, "uint32": 13}  # FieldDescriptor.TYPE_*


def _all_messages(descriptors, prefix=""):
    for d in descriptors:
        yield prefix + d.name, d
        yield from _all_messages(d.nested_types, prefix + d.name + ".")


def test_types_type_names_and_packed_options_match_the_tables():
    gen = _load_gen_proto()
    rows = gen.read_tsv(TABLES / "fields.tsv")
    messages = dict(_all_messages(caffe_pb2.DESCRIPTOR.message_types_by_name.values()))
    for row in rows:
        field = messages[row["message"]].fields_by_name[row["field"]]
        assert field.type == _TYPES[row["type"]], row
        if row["type_name"]:
            target = field.message_type or field.enum_type
            assert target.full_name == "caffe." + row["type_name"], row
        packed = field.GetOptions().packed if field.GetOptions().HasField("packed") else False
        assert packed == (row["options"] == "packed"), row


def test_no_message_or_field_beyond_the_tables():
    gen = _load_gen_proto()
    rows = gen.read_tsv(TABLES / "fields.tsv")
    table = {(r["message"], r["field"]) for r in rows}
    messages = dict(_all_messages(caffe_pb2.DESCRIPTOR.message_types_by_name.values()))
    ours = {(name, f.name) for name, d in messages.items() for f in d.fields}
    assert ours == table
    assert set(messages) == {r["message"] for r in rows} | {name for name, d in messages.items() if not d.fields}
    assert caffe_pb2.DESCRIPTOR.package == "caffe"
    assert 'syntax = "proto2";' in (ROOT / "tunewiz" / "caffe" / "caffe.proto").read_text()
