"""``tunewiz export``: what it prints, and its refusals as one line each with nothing the user had replaced —
an existing output without --force, a missing --weights file, a Python layer, a missing extra, a file that
differs from tunewiz's forward (deleted, the old file kept)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.commands.cli_checks import file_sums, one_line
from tests.export import nets
from tunewiz.cli import main
from tunewiz.sample_models import LENET_DIGITS

MODEL = str(LENET_DIGITS / "lenet_deploy.prototxt")
WEIGHTS = str(LENET_DIGITS / "lenet_digits04.caffemodel")
PYLAYERS = Path(__file__).resolve().parents[1] / "fixtures" / "python_layer"  # pyrelu.py


def test_export_writes_the_three_files_and_says_how_they_agree(tmp_path, capsys):
    args = ["export", "--model", MODEL, "--weights", WEIGHTS, "--onnx", str(tmp_path / "n.onnx"),
            "--torch", str(tmp_path / "n.pt2"), "--state-dict", str(tmp_path / "n.pt")]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"wrote {tmp_path / 'n.pt'} (8 tensors)"
    assert out[1].startswith(f"wrote {tmp_path / 'n.pt2'}: agrees with tunewiz forward") and "max rel" in out[1]
    assert out[2].startswith(f"wrote {tmp_path / 'n.onnx'} (opset 18): agrees") and "max abs" in out[2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.onnx", "n.pt", "n.pt2"]


def test_an_existing_output_is_kept_unless_force(tmp_path, capsys):
    out = tmp_path / "n.onnx"
    out.write_bytes(b"precious")
    before = file_sums(tmp_path)
    args = ["export", "--model", MODEL, "--weights", WEIGHTS, "--onnx", str(out)]
    assert main(args) == 2
    err = one_line(capsys)
    assert f"--onnx {out} already exists" in err and "--force" in err
    assert file_sums(tmp_path) == before
    assert main([*args, "--force"]) == 0
    assert out.read_bytes() != b"precious" and sorted(p.name for p in tmp_path.iterdir()) == ["n.onnx"]


def test_a_missing_weights_file_is_named(tmp_path, capsys):
    assert main(["export", "--model", MODEL, "--weights", str(tmp_path / "no.caffemodel"),
                 "--torch", str(tmp_path / "n.pt2")]) == 2
    assert f"--weights {tmp_path / 'no.caffemodel'}: file does not exist" in one_line(capsys)
    assert not list(tmp_path.iterdir())


def test_nothing_to_write_is_refused(capsys):
    assert main(["export", "--model", MODEL, "--weights", WEIGHTS]) == 2
    assert "nothing to write: give --onnx" in one_line(capsys)


def test_a_python_layer_stops_the_export_naming_it(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(PYLAYERS))
    text = Path(MODEL).read_text()
    relu = 'type: "ReLU"'
    assert relu in text
    text = text.replace(relu, 'type: "Python"\n  python_param { module: "pyrelu" layer: "PyReLU" }')
    (tmp_path / "py.prototxt").write_text(text)
    assert main(["export", "--model", str(tmp_path / "py.prototxt"), "--weights", WEIGHTS,
                 "--onnx", str(tmp_path / "n.onnx"), "--torch", str(tmp_path / "n.pt2")]) == 2
    err = one_line(capsys)
    assert "layer 'relu1' (Python): a Python layer runs your own code (pyrelu.PyReLU)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["py.prototxt"]


def test_a_missing_extra_is_one_line_with_the_pip_command(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert main(["export", "--model", MODEL, "--weights", WEIGHTS, "--onnx", str(tmp_path / "n.onnx")]) == 2
    assert "--onnx needs onnxruntime (not installed): pip install 'tunewiz[export]'" in one_line(capsys)


@pytest.mark.parametrize("flag,name", [("--onnx", "n.onnx"), ("--torch", "n.pt2")])
def test_a_file_that_differs_is_deleted_and_the_old_one_kept(tmp_path, capsys, monkeypatch, flag, name):
    from tunewiz.export import verify

    (tmp_path / name).write_bytes(b"the old export")
    before = file_sums(tmp_path)
    real = verify.compare

    def off(ref, got, outputs):  # a runtime that computes one output wrongly
        return real([r + 0.01 for r in ref], got, outputs)

    monkeypatch.setattr(verify, "compare", off)
    assert main(["export", "--model", MODEL, "--weights", WEIGHTS, flag, str(tmp_path / name), "--force"]) == 2
    err = one_line(capsys)
    assert f"{tmp_path / name}: the " in err and "differs from tunewiz's forward on output 'prob'" in err
    assert "not written" in err
    assert file_sums(tmp_path) == before


def test_weights_that_miss_a_layer_are_refused(tmp_path, capsys):
    model, weights = nets.write_net(tmp_path, "c", nets.caffenet_small())
    text = model.read_text().replace('name: "fc7"', 'name: "fc7_new"')
    (tmp_path / "renamed.prototxt").write_text(text)
    assert main(["export", "--model", str(tmp_path / "renamed.prototxt"), "--weights", str(weights),
                 "--torch", str(tmp_path / "n.pt2")]) == 2
    assert "layer fc7_new of" in one_line(capsys)
    assert not (tmp_path / "n.pt2").exists()
