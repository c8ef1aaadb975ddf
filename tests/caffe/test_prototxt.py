"""Net and solver prototxt: errors with file:line:column, Caffe's layout, round trips.

Fixtures: ``fixtures/prototxt/reference/`` is a copy of every ``*.prototxt`` under
../shared/caffe-reference (same relative paths); ``fixtures/prototxt/caffe_printed/``
holds every distinct net and solver that Caffe 1.0 printed to its logs there
("Initializing net/solver from parameters:", ``DebugString`` = ``TextFormat::Print``),
cut out with :func:`printed_params` — Caffe's own text layout, byte for byte.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from tunewiz.caffe import caffe_pb2, prototxt
from tunewiz.caffe.detect import detect
from tunewiz.caffe.textprint import format_double, format_float
from tunewiz.errors import FormatError

FIX = Path(__file__).resolve().parent.parent / "fixtures"
COPIES = FIX / "prototxt" / "reference"
PRINTED = FIX / "prototxt" / "caffe_printed"
UPGRADED = sorted((FIX / "upgrade").glob("*.upgraded.prototxt"))
REFERENCE = Path(os.environ.get("CAFFE_REFERENCE", Path(__file__).parents[3] / "shared" / "caffe-reference"))
_GLOG = re.compile(r"^[IWEF]\d{8} ")
_START = re.compile(r"(?:solver|net)\.cpp:\d+\] Initializing (solver|net) from parameters: $")


def printed_params(log_text: str) -> list[tuple[str, str]]:
    """(``net`` or ``solver``, text) of every parameter dump in a Caffe log."""
    lines, out, i = log_text.splitlines(keepends=True), [], 0
    while i < len(lines):
        match = _START.search(lines[i].rstrip("\n"))
        i += 1
        if match:
            body = []
            while i < len(lines) and not _GLOG.match(lines[i]):
                body.append(lines[i])
                i += 1
            out.append((match.group(1), "".join(body)))
    return out


def _message_for(path: Path):
    kind = detect(path).kind
    assert kind in ("net", "solver"), (path, kind)
    return caffe_pb2.NetParameter() if kind == "net" else caffe_pb2.SolverParameter()


def _round_trip(path: Path, tmp_path: Path) -> None:
    first = prototxt.read_text(path, _message_for(path))
    out = tmp_path / "again.prototxt"
    prototxt.write_text(out, first)
    second = prototxt.read_text(out, type(first)())
    assert second == first, path
    assert prototxt.to_text(second) == out.read_text()  # writing is stable


def _all_copies() -> list[Path]:
    return sorted(COPIES.rglob("*.prototxt"))


def test_fixture_copies_cover_the_reference_folder():
    assert len(_all_copies()) >= 160
    if REFERENCE.is_dir():
        wanted = {p.relative_to(REFERENCE) for p in REFERENCE.rglob("*.prototxt")}
        assert wanted == {p.relative_to(COPIES) for p in _all_copies()}, "copy the new prototxts into fixtures"


@pytest.mark.parametrize("path", _all_copies(), ids=lambda p: str(p.relative_to(COPIES)))
def test_read_write_read_is_equal(path, tmp_path):
    _round_trip(path, tmp_path)


def _printed() -> list[Path]:
    return sorted(PRINTED.glob("*.prototxt"))


@pytest.mark.parametrize("path", _printed() + UPGRADED, ids=lambda p: p.name)
def test_written_exactly_as_caffe_prints_it(path):
    text = path.read_text()
    message = caffe_pb2.SolverParameter() if "solver" in path.name else caffe_pb2.NetParameter()
    assert prototxt.to_text(prototxt.parse_text(text, message)) == text


def test_printed_fixtures_are_all_there():
    assert len(_printed()) >= 30
    assert any("solver" in p.name for p in _printed()) and any("net" in p.name for p in _printed())


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared/caffe-reference")
def test_every_net_and_solver_caffe_printed_is_written_the_same(tmp_path):
    seen = 0
    for log in sorted(REFERENCE.rglob("*.log")):
        for kind, text in printed_params(log.read_text(errors="replace")):
            message = caffe_pb2.SolverParameter() if kind == "solver" else caffe_pb2.NetParameter()
            assert prototxt.to_text(prototxt.parse_text(text, message)) == text, log
            name = f"{kind}_{hashlib.sha1(text.encode()).hexdigest()[:10]}.prototxt"
            assert (PRINTED / name).is_file(), f"new printed {kind} in {log}: copy it to {PRINTED / name}"
            seen += 1
    assert seen >= 30


@pytest.mark.parametrize("value, text", [
    (1.0, "1"), (0.0, "0"), (-0.0, "-0"), (0.01, "0.01"), (0.00390625, "0.00390625"), (1e-05, "1e-05"),
    (0.1, "0.1"), (100000.0, "100000"), (1000000.0, "1e+06"), (0.999, "0.999"), (1 / 3, "0.333333343"),
    (float("inf"), "inf"), (float("-inf"), "-inf"), (float("nan"), "nan"), (16777217.0, "16777216"),
])
def test_floats_as_cplusplus_simple_ftoa(value, text):
    assert format_float(value) == text
    message = caffe_pb2.FillerParameter(value=value)
    assert prototxt.to_text(message) == f"value: {text}\n"


@pytest.mark.parametrize("value, text", [(1.0, "1"), (0.1, "0.1"), (1 / 3, "0.33333333333333331"), (2.5e-300, "2.5e-300")])
def test_doubles_as_cplusplus_simple_dtoa(value, text):
    assert format_double(value) == text


def test_layout_two_spaces_one_field_per_line_and_escapes():
    net = caffe_pb2.NetParameter(name='a "q"\n\xe9')
    layer = net.layer.add(name="c", type="Convolution", bottom=["x"], top=["y"])
    layer.param.add(lr_mult=1, decay_mult=0)
    layer.convolution_param.num_output = 3
    layer.convolution_param.bias_term = False
    layer.convolution_param.weight_filler.type = "xavier"
    assert prototxt.to_text(net) == (
        'name: "a \\"q\\"\\n\\303\\251"\nlayer {\n  name: "c"\n  type: "Convolution"\n  bottom: "x"\n  top: "y"\n'
        '  param {\n    lr_mult: 1\n    decay_mult: 0\n  }\n  convolution_param {\n    num_output: 3\n'
        '    bias_term: false\n    weight_filler {\n      type: "xavier"\n    }\n  }\n}\n')
    assert prototxt.parse_text(prototxt.to_text(net), caffe_pb2.NetParameter()) == net


def _write(tmp_path: Path, text: str, name: str = "net.prototxt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(path: Path, reader=prototxt.read_net_text) -> FormatError:
    with pytest.raises(FormatError) as err:
        reader(path)
    assert "\n" not in str(err.value)
    return err.value


def test_syntax_error_has_file_line_column_and_text(tmp_path):
    path = _write(tmp_path, 'name: "x"\nlayer {\n  name: "a"\n  type: "ReLU"\n  bottom: "x" }}\n')
    err = _error(path)
    assert isinstance(err, prototxt.PrototxtError) and (err.line, err.column) == (5, 16)
    assert str(err).startswith(f"{path}:5:16: ") and '`bottom: "x" }}`' in str(err)


def test_unclosed_block_at_the_end(tmp_path):
    """Reported where the block that is not closed began (issue 12), not at the end of the file."""
    err = _error(_write(tmp_path, 'layer {\n  name: "a"\n  type: "ReLU"\n\n# end\n'))
    assert (err.line, err.column) == (1, 1) and "a '{' that is never closed at `layer {`" in str(err)
    assert "the file ends inside it" in str(err)


@pytest.mark.parametrize("text,where,words", [
    # a layer's '}' missing: protobuf stops at the next `layer {` (line 8), the block began at line 2
    ('name: "n"\nlayer {\n  name: "d"\n  type: "Input"\n  top: "d"\n  input_param { shape { dim: 1 } }\n\n'
     'layer {\n  name: "r"\n  type: "ReLU"\n  bottom: "d"\n  top: "d"\n}\n', (2, 1), ["before line 8", '"layer"']),
    # a nested block's '}' missing: the field after it belongs to the layer, so the param block is the one
    ('layer {\n  name: "c"\n  # a comment with { and "quotes\n  param { lr_mult: 1\n'
     '  convolution_param { num_output: 2 }\n}\n', (4, 3), ["before line 5", "convolution_param"]),
    # braces inside strings do not count
    ('layer {\n  name: "a{"\n  type: "ReLU"\n\nlayer {\n  name: "b"\n}\n', (1, 1), ["before line 5"]),
])
def test_missing_brace_is_reported_where_the_block_began(tmp_path, text, where, words):
    err = _error(_write(tmp_path, text))
    assert (err.line, err.column) == where, str(err)
    assert "never closed" in str(err) and all(w in str(err) for w in words), str(err)


def test_a_misspelt_field_is_not_taken_for_a_missing_brace(tmp_path):
    err = _error(_write(tmp_path, 'layer {\n  name: "a"\n  param { lr_mult: 1 naem: "x" }\n}\n'))
    assert err.line == 3 and "never closed" not in str(err) and 'unknown field "naem"' in str(err)


def test_unknown_field_names_the_nearest_valid_fields(tmp_path):
    err = _error(_write(tmp_path, 'name: "x"\nlayer {\n  name: "a"\n  tpye: "ReLU"\n}\n'))
    assert (err.line, err.column) == (4, 3)
    assert 'unknown field "tpye" in LayerParameter' in str(err) and "did you mean: type" in str(err)
    assert '`tpye: "ReLU"`' in str(err)


def test_unknown_solver_field(tmp_path):
    err = _error(_write(tmp_path, 'net: "n.prototxt"\nbase_lr: 0.01\nmax_itr: 10\n', "solver.prototxt"),
                 prototxt.read_solver_text)
    assert str(err).startswith(f"{tmp_path / 'solver.prototxt'}:3:1: ") and "did you mean: max_iter" in str(err)


def test_unknown_enum_value_and_unquoted_string(tmp_path):
    err = _error(_write(tmp_path, 'layer {\n  name: "p"\n  pooling_param { pool: MAXX }\n}\n'))
    assert err.line == 3 and "unknown value MAXX" in str(err) and "did you mean: MAX?" in str(err)
    err = _error(_write(tmp_path, 'layer {\n  name: "c"\n  type: Convolution\n}\n'))
    assert err.line == 3 and "double quotes" in str(err)


def test_v1_field_inside_layer_says_what_to_write(tmp_path):
    err = _error(_write(tmp_path, 'layer {\n  name: "c"\n  blobs_lr: 0\n}\n'))
    assert "param { lr_mult" in str(err)


def test_no_close_name_lists_the_valid_ones(tmp_path):
    err = _error(_write(tmp_path, 'zzzzzz: 1\n'))
    assert "valid fields: name, input" in str(err)


@pytest.mark.parametrize("content, reader, needle", [
    (b"", prototxt.read_net_text, "the file is empty; expected a net prototxt"),
    (b"  \n\n", prototxt.read_solver_text, "the file is empty; expected a solver prototxt"),
    (b'net: "a.prototxt"\nbase_lr: 0.1\n', prototxt.read_net_text, "expected a net prototxt, but this is a solver"),
    (b'layer { name: "a" }\n', prototxt.read_solver_text, "expected a solver prototxt, but this is a net"),
    (b'name: "caf\xe9"\n', prototxt.read_net_text, ":1: not UTF-8 text"),
    (b'\xef\xbb\xbfname: "x"\n', prototxt.read_net_text, ":1:1: the file starts with a byte-order mark"),
    ((FIX / "formats" / "lenet" / "lenet_iter_10.caffemodel").read_bytes(), prototxt.read_net_text,
     "expected a net prototxt, but this is a caffemodel"),
    ((FIX / "formats" / "lenet" / "lenet_iter_10.solverstate").read_bytes(), prototxt.read_solver_text,
     "expected a solver prototxt, but this is a solverstate"),
])
def test_wrong_files_are_one_clear_error(tmp_path, content, reader, needle):
    path = tmp_path / "f.prototxt"
    path.write_bytes(content)
    assert needle in str(_error(path, reader))


def test_missing_folder_and_fifo(tmp_path):
    assert "no such file" in str(_error(tmp_path / "nope.prototxt"))
    assert "is a folder" in str(_error(tmp_path))
    os.mkfifo(tmp_path / "pipe")
    assert "not a regular file" in str(_error(tmp_path / "pipe"))  # and it does not hang


def test_write_is_atomic_and_refuses_non_files(tmp_path):
    net = caffe_pb2.NetParameter(name="n")
    with pytest.raises(FormatError, match="cannot write"):
        prototxt.write_text(tmp_path / "no" / "x.prototxt", net)
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(FormatError, match="not a regular file"):
        prototxt.write_text(tmp_path / "pipe", net)
    (tmp_path / "real.prototxt").write_text("old")
    (tmp_path / "link.prototxt").symlink_to("real.prototxt")
    prototxt.write_text(tmp_path / "link.prototxt", net)
    assert (tmp_path / "link.prototxt").is_symlink() and (tmp_path / "real.prototxt").read_text() == 'name: "n"\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.prototxt", "pipe", "real.prototxt"]


@pytest.mark.parametrize("path", [p for p in _all_copies() if "solver" not in p.name],
                         ids=lambda p: str(p.relative_to(COPIES)))
def test_upgraded_net_written_and_read_back_is_equal(path, tmp_path):
    from tunewiz.caffe import netio

    if detect(path).kind != "net":
        pytest.skip("a solver")
    net = netio.read_net(path)
    netio.write_net(tmp_path / "up.prototxt", net)
    assert netio.read_net(tmp_path / "up.prototxt") == net
    assert prototxt.read_net_text(tmp_path / "up.prototxt") == net  # nothing left to upgrade
