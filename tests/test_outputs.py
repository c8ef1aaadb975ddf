"""``tunewiz.outputs.check_output``: the one check every command makes before writing a file."""
from __future__ import annotations

import os

import pytest

from tunewiz.errors import TunewizError
from tunewiz.outputs import check_output


def test_refusals_name_the_flag_and_the_fix(tmp_path):
    existing = tmp_path / "a.npz"
    existing.write_bytes(b"x")
    with pytest.raises(TunewizError, match=rf"--output {existing} already exists: give --force"):
        check_output(str(existing), False, "--output")
    with pytest.raises(TunewizError, match="is a folder; give the name of the .json file"):
        check_output(str(tmp_path), False, "--json", ".json file")
    with pytest.raises(TunewizError, match="is a folder"):
        check_output(str(tmp_path / "new") + "/", False, "")
    with pytest.raises(TunewizError, match=r"--onnx: folder '.*none' does not exist|--onnx .*folder"):
        check_output(str(tmp_path / "none" / "m.onnx"), False, "--onnx")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(TunewizError, match="not a regular file"):
        check_output(str(fifo), True, "--output")


def test_what_may_be_written_passes(tmp_path):
    existing = tmp_path / "a.npz"
    existing.write_bytes(b"x")
    check_output(str(existing), True, "--output")  # --force
    check_output(str(tmp_path / "new.npz"), False, "--output")
    assert existing.read_bytes() == b"x"  # a check writes nothing
