"""``tunewiz forward``: an existing --output is kept unless --force (refused before any work); an --input that
is not a .npy array is one line saying what it is and how to make one."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.commands.cli_checks import file_sums, one_line
from tunewiz.cli import main

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "engine"
MODEL = str(FIX / "lenet_v1_deploy.upgraded.prototxt")


def test_existing_output_is_kept_unless_force(tmp_path, capsys):
    out = tmp_path / "out.npz"
    out.write_bytes(b"precious results")
    before = file_sums(tmp_path)
    args = ["forward", "--model", MODEL, "--input", f"data={FIX / 'input.npy'}", "--output", str(out), "--seed", "1"]
    assert main(args) == 2
    err = one_line(capsys)
    assert f"--output {out} already exists" in err and "--force" in err and "another name" in err
    assert file_sums(tmp_path) == before
    assert main([*args, "--force"]) == 0
    assert "prob" in np.load(out).files and sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]


def test_output_folder_is_refused_before_any_work(tmp_path, capsys):
    assert main(["forward", "--model", "no_such.prototxt", "--output", str(tmp_path)]) == 2
    assert "is a folder" in one_line(capsys)


@pytest.mark.parametrize("kind, needle", [
    ("text", "is not a .npy array (no numpy header); make one with numpy.save('batch.npy', array)"),
    ("npz", "is an .npz archive (several arrays), not a .npy array; save the one array for data with numpy.save"),
    ("objects", "is not a .npy array of numbers (it holds Python objects, not numbers)"),
    ("cut", "is not a .npy array of numbers (damaged:"),
])
def test_input_that_is_not_a_npy_array_isone_line(tmp_path, capsys, kind, needle):
    src = tmp_path / ("batch.txt" if kind == "text" else "batch.npz" if kind == "npz" else "batch.npy")
    if kind == "text":
        src.write_text("0.1 0.2 0.3\n0.4 0.5 0.6\n")
    elif kind == "npz":
        np.savez(src, data=np.zeros((1, 1, 28, 28), np.float32))
        assert zipfile.is_zipfile(src)
    elif kind == "objects":
        np.save(src, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        np.save(src, np.zeros((1, 1, 28, 28), np.float32))
        src.write_bytes(src.read_bytes()[:200])
    before = file_sums(tmp_path)
    assert main(["forward", "--model", MODEL, "--input", f"data={src}", "--output", str(tmp_path / "o.npz")]) == 2
    err = one_line(capsys)
    assert f"--input data: '{src}' " in err and needle in err and "allow_pickle" not in err
    assert file_sums(tmp_path) == before
