"""``tunewiz inspect``: readable text, stable --json, one-line errors with a non-zero exit."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tunewiz.cli import main

FORMATS = Path(__file__).parent / "fixtures" / "formats"
LENET = FORMATS / "lenet"


def _json(capsys, *files):
    assert main(["inspect", "--json", *map(str, files)]) == 0
    return json.loads(capsys.readouterr().out)


def test_caffemodel_json(capsys):
    [report] = _json(capsys, LENET / "lenet_iter_10.caffemodel")
    assert report["kind"] == "caffemodel" and report["format"] == "V2"
    layers = {l["name"]: l for l in report["layers"]}
    assert [b["shape"] for b in layers["conv2"]["blobs"]] == [[50, 20, 5, 5], [50]]
    assert layers["pool1"]["blobs"] == [] and layers["conv1"]["type"] == "Convolution"
    assert report["param_count"] == 20 * 25 + 20 + 50 * 20 * 25 + 50 + 100 * 200 + 100 + 4 * 100 + 4


def test_v1_caffemodel_shows_legacy_dims(capsys):
    [report] = _json(capsys, FORMATS / "v1" / "lenet_v1.caffemodel")
    assert report["format"] == "V1"
    ip1 = next(l for l in report["layers"] if l["name"] == "ip1")
    assert ip1["blobs"][0]["legacy"] == [1, 1, 100, 200]


def test_solverstate_json(capsys):
    [report] = _json(capsys, FORMATS / "solverstates" / "adadelta_iter_3.solverstate")
    assert (report["iter"], report["current_step"]) == (3, 1)
    assert report["learned_net"] == "solverstates/adadelta_iter_3.caffemodel"
    assert [h["shape"] for h in report["history"]] == [[4, 361], [4], [4, 361], [4]]


def test_binaryproto_json(capsys):
    [report] = _json(capsys, FORMATS / "data" / "mean.binaryproto")
    assert report["shape"] == [1, 3, 32, 32] and report["legacy"] == [1, 3, 32, 32]
    mean = np.load(FORMATS / "data" / "mean.npy")
    assert report["channel_mean"] == pytest.approx(mean[0].astype(np.float64).mean(axis=(1, 2)).tolist())


def test_net_and_solver_json(capsys):
    net, solver = _json(capsys, LENET / "train_val.prototxt", LENET / "solver.prototxt")
    assert net["kind"] == "net" and net["layers"][2] == {
        "name": "conv1", "type": "Convolution", "bottom": ["data"], "top": ["conv1"], "phase": ""}
    assert solver["kind"] == "solver" and solver["fields"]["base_lr"] == 0.01
    assert solver["fields"]["net"] == "lenet/train_val.prototxt"


def test_text_output_is_readable(capsys):
    files = [LENET / "lenet_iter_10.caffemodel", LENET / "lenet_iter_10.solverstate", FORMATS / "data" / "mean.binaryproto"]
    assert main(["inspect", *map(str, files)]) == 0
    out = capsys.readouterr().out
    assert "46,074 parameters" in out
    assert "conv2  Convolution      50x20x5x5, 50" in out
    assert "learned_net: lenet/lenet_iter_10.caffemodel" in out
    assert "per-channel mean: [0] 127.506, [1] 143.877, [2] 121.814" in out  # compute_image_mean's log


@pytest.mark.parametrize("make, expected", [
    (lambda d: d / "missing.caffemodel", "no such file"),
    (lambda d: _write(d / "empty.caffemodel", b""), "an empty file"),
    (lambda d: _write(d / "cut.caffemodel", (LENET / "lenet_iter_10.caffemodel").read_bytes()[:5000]),
     "a truncated caffemodel"),
    (lambda d: _write(d / "noise.bin", bytes(range(256))), "not a file Caffe reads"),
])
def test_errors_are_one_line(tmp_path, capsys, make, expected):
    assert main(["inspect", str(make(tmp_path))]) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and expected in captured.err


def test_database_and_shapes_hooks(tmp_path, capsys):
    lmdb = pytest.importorskip("lmdb")
    lmdb.open(str(tmp_path / "db"), map_size=1 << 20).close()
    from tunewiz.commands import inspect as cmd

    if "lmdb" not in cmd.INSPECTORS:
        assert main(["inspect", str(tmp_path / "db")]) != 0
        assert "LMDB" in capsys.readouterr().err
    cmd.register("fake", lambda p: {"answer": 42})
    assert cmd.INSPECTORS["fake"][0](tmp_path) == {"answer": 42}
    del cmd.INSPECTORS["fake"]


def test_no_file_is_an_error(capsys):
    assert main(["inspect"]) != 0
    assert "give at least one FILE" in capsys.readouterr().err


def test_inspect_does_not_import_torch():
    code = ("import sys; from tunewiz.cli import main; "
            f"main(['inspect', {str(LENET / 'lenet_iter_10.caffemodel')!r}]); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_shapes_calls_the_engine(monkeypatch, capsys):
    import types

    from tunewiz.caffe import caffe_pb2

    calls = []

    def describe(net_param, phase):
        calls.append((net_param, phase))
        return "data 16x1x19x19"

    monkeypatch.setitem(sys.modules, "tunewiz.engine.net.shapes", types.SimpleNamespace(describe=describe))
    assert main(["inspect", "--shapes", str(LENET / "train_val.prototxt"), "--phase", "TEST"]) == 0
    assert "data 16x1x19x19" in capsys.readouterr().out
    [(net, phase)] = calls
    assert isinstance(net, caffe_pb2.NetParameter) and net.name == "LeNetRef" and phase == "TEST"


def test_shapes_not_available_yet(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tunewiz.engine.net.shapes", None)
    assert main(["inspect", "--shapes", str(LENET / "train_val.prototxt")]) != 0
    assert "not available" in capsys.readouterr().err


def test_prototxt_typo_is_one_line_with_position_and_hint(tmp_path, capsys):
    net = tmp_path / "net.prototxt"
    net.write_text('name: "x"\nlayer {\n  name: "a"\n  tpye: "ReLU"\n}\n')
    solver = tmp_path / "solver.prototxt"
    solver.write_text('net: "net.prototxt"\nbase_lr: 0.01\nmax_itr: 10\n')
    assert main(["inspect", str(net)]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{net}:4:3:" in err and "did you mean: type" in err
    assert main(["inspect", str(solver)]) != 0
    err = capsys.readouterr().err
    assert f"{solver}:3:1:" in err and "solver prototxt" in err and "max_iter" in err


@pytest.mark.parametrize("text, what, hint", [
    ("base_lrr: 0.1\n", "solver", "did you mean: base_lr"),
    ("nmae: \"x\"\n", "net", "did you mean: name"),
    ("layer {\n  name: \"p\"\n  pooling_param { pool: MAXX }\n}\n", "net", "did you mean: MAX"),
])
def test_a_typo_on_the_first_line_is_judged_by_the_nearest_name(tmp_path, capsys, text, what, hint):
    path = tmp_path / "f.prototxt"
    path.write_text(text)
    assert main(["inspect", str(path)]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"read as a {what} prototxt" in err and hint in err


def test_old_solver_is_shown_as_caffe_reads_it(capsys):
    solver = Path(__file__).resolve().parent / "fixtures" / "upgrade" / "solver_v1.prototxt"
    [report] = _json(capsys, solver)
    assert report["format"] == "old solver_type enum"
    assert report["fields"]["type"] == "Nesterov" and "solver_type" not in report["fields"]
    assert main(["inspect", str(solver)]) == 0
    assert "written with the old solver_type enum" in capsys.readouterr().out
