"""Temporaries are named as tunewiz's, with the writer's pid; earlier versions' names are recognised too."""
import os

import pytest

from tunewiz.caffe import wire
from tunewiz.caffe.tempfiles import make_temp, partial_path, temp_owner, temp_path


def test_new_names_carry_our_pid_and_stay_hidden_beside_the_file(tmp_path):
    final = tmp_path / "lenet_iter_5.caffemodel"
    path = temp_path(final)
    assert path.parent == tmp_path and path.name.startswith(".lenet_iter_5.caffemodel.tunewiz-")
    assert temp_owner(path.name) == os.getpid() and temp_path(final) != path
    fd, made = make_temp(final)
    os.close(fd)
    assert temp_owner(os.path.basename(made)) == os.getpid() and os.path.dirname(made) == str(tmp_path)
    inner = temp_path(path)  # the caffemodel writer's own temporary inside a snapshot's
    assert temp_owner(inner.name) == os.getpid()


def test_a_resumable_download_is_never_taken_for_a_stale_temporary(tmp_path):
    final = tmp_path / "bvlc_googlenet.caffemodel"
    part = partial_path(final)
    assert part == tmp_path / "bvlc_googlenet.caffemodel.part" and temp_owner(part.name) is None


@pytest.mark.parametrize("name, pid", [
    (".sgd_iter_25.caffemodel.tmp4242", 4242),  # earlier snapshot temporaries
    (".sgd_iter_25.solverstate.tmp17", 17),
    (".sgd_iter_25.tunewiz.json.tmp17", 17),
    ("..sgd_iter_25.caffemodel.tmp4242.k3j9x_ab.tmp", 4242),  # earlier atomic_write inside one
    (".solver.prototxt.tunewiz-99-abc_12.tmp", 99),
    ("sgd_iter_25.caffemodel", None),  # a user's files are never taken for ours
    (".bashrc", None),
    (".notes.txt.tmp12", None),
    ("x.tunewiz-12-ab.tmp", None),  # not hidden: not a name we write
])
def test_owner_of_a_name(name, pid):
    assert temp_owner(name) == pid


def test_atomic_write_uses_the_marked_name_and_leaves_nothing_on_failure(tmp_path, monkeypatch):
    seen = []
    real = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        return real(src, dst)
    monkeypatch.setattr(wire.os, "replace", spy)
    wire.atomic_write(tmp_path / "a.bin", [b"abc"])
    assert (tmp_path / "a.bin").read_bytes() == b"abc" and temp_owner(seen[0]) == os.getpid()

    def broken():
        yield b"x"
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError):
        wire.atomic_write(tmp_path / "a.bin", broken())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]
