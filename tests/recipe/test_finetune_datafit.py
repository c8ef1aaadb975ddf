"""``tunewiz finetune`` stops at its checks, before any shape is worked out, when the data cannot fit the net.

The issue's case: the bundled sample converted without ``--resize_height/--resize_width`` (8x8 records
for a LeNet made for 20x20) gets the records' size, the size the net and its weights need, and the
conversion line, with nothing written.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tunewiz.cli import main
from tunewiz.sample_models import LENET_DIGITS

SAMPLE = LENET_DIGITS
pytestmark = pytest.mark.skipif(not (SAMPLE / "lenet_digits04.caffemodel").is_file(),
                                reason="the sample's caffemodel is not built")


def convert(tmp_path: Path, *flags: str) -> None:
    """A few of the sample's images, converted as a newcomer might (``flags`` as given)."""
    lines = (SAMPLE / "train.txt").read_text().splitlines()[:12]
    (tmp_path / "few.txt").write_text("\n".join(lines) + "\n")
    for db in ("train_lmdb", "val_lmdb"):
        assert main(["convert-imageset", *flags, str(SAMPLE / "images") + "/", "few.txt", db]) == 0


def finetune(*extra: str) -> list[str]:
    return ["finetune", "--net", str(SAMPLE / "lenet_train_val.prototxt"),
            "--deploy", str(SAMPLE / "lenet_deploy.prototxt"), "--solver", str(SAMPLE / "lenet_solver.prototxt"),
            "--weights", str(SAMPLE / "lenet_digits04.caffemodel"), "--train-db", "train_lmdb",
            "--val-db", "val_lmdb", "--out", "run", "--mode", "cpu", *extra]


def test_the_sample_without_resize_gets_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    convert(tmp_path, "--gray")
    capsys.readouterr()
    assert main(finetune("--dry-run")) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "does not fit the net" in err
    assert "'train_lmdb', whose first record is 1x8x8" in err and "net expects 1x20x20" in err
    assert "layer 'conv2'" in err and "'ip1'" in err
    assert "tunewiz convert-imageset --gray --resize_height 20 --resize_width 20 ROOT/ LIST train_lmdb" in err
    assert not (tmp_path / "run").exists()


def test_the_sample_in_colour_gets_the_gray_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    convert(tmp_path, "--resize_height", "20", "--resize_width", "20")  # --gray forgotten
    capsys.readouterr()
    assert main(finetune()) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "3x20x20" in err and "net expects 1x20x20" in err
    assert "take 1 channel (gray)" in err and "with --gray" in err
    assert "tunewiz convert-imageset --gray --resize_height 20 --resize_width 20" in err


def test_the_sample_converted_as_the_readme_says_passes_the_check(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    convert(tmp_path, "--gray", "--resize_height", "20", "--resize_width", "20")
    assert main(finetune("--dry-run")) == 0
    assert "copied from the weights: conv1, conv2, ip1" in capsys.readouterr().out
