"""convert-imageset refuses what it cannot use with one line (issue 12): special or huge list files,
negative labels, a ROOTFOLDER that is not a folder, negative sizes; and says "cannot decode" for a
file that is there but is not an image.  Each: exit != 0, the key words, no traceback, every file
that was there unchanged (sha256) and no database left.
"""
import os
import shutil
import threading

import pytest


def _images(dh):
    return str(dh.FX / "images") + "/"


def _refused(dh, capsys, tmp_path, *args):
    """convert-imageset *args must fail with one line and change nothing; returns that line and stderr."""
    before = dh.snapshot(tmp_path, dh.FX)
    line, err = dh.cli_error(capsys, "convert-imageset", *args)
    assert dh.snapshot(tmp_path, dh.FX) == before
    assert not (tmp_path / "db").exists()
    return line, err


def test_a_fifo_as_list_file_is_refused_without_waiting(dh, tmp_path, capsys):
    fifo = tmp_path / "list.fifo"
    os.mkfifo(fifo)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault(
        "line", _refused(dh, capsys, tmp_path, _images(dh), fifo, tmp_path / "db")[0]), daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():  # it blocked in open(): release it so that the test fails instead of hanging
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("convert-imageset waited on the FIFO")
    assert "list.fifo: not a regular file" in result["line"] and "save the list to a file" in result["line"]


def test_dev_zero_as_list_file_is_refused(dh, tmp_path, capsys):
    line, _ = _refused(dh, capsys, tmp_path, _images(dh), "/dev/zero", tmp_path / "db")
    assert "/dev/zero: not a regular file" in line


def test_a_huge_list_file_is_refused_before_reading_it(dh, tmp_path, capsys):
    from tunewiz.data.listfile import MAX_LIST_BYTES

    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as f:
        f.truncate(MAX_LIST_BYTES + (44 << 20))  # sparse: no disk used, nothing read
    stat = huge.stat()
    before = dh.snapshot(dh.FX)  # not the huge file: hashing it would read 300 MiB
    line, _ = dh.cli_error(capsys, "convert-imageset", _images(dh), huge, tmp_path / "db")
    assert dh.snapshot(dh.FX) == before and huge.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.txt"]
    assert "huge.txt: 300 MiB is too large for a list of images (at most 256 MiB" in line
    assert "is this the list file?" in line


def test_a_binary_file_as_list_is_one_line(dh, tmp_path, capsys):
    line, _ = _refused(dh, capsys, tmp_path, _images(dh), dh.FX / "mean.binaryproto", tmp_path / "db")
    assert "mean.binaryproto: not a text list" in line


def test_a_folder_as_list_file_is_refused(dh, tmp_path, capsys):
    line, _ = _refused(dh, capsys, tmp_path, _images(dh), dh.FX / "images", tmp_path / "db")
    assert "images: is a folder; give the list file" in line


def test_a_negative_label_is_refused_with_file_and_line(dh, tmp_path, capsys):
    listfile = tmp_path / "list.txt"
    listfile.write_text("a_circles/img00.png 0\nb_squares/img00.jpg -1\n")
    line, _ = _refused(dh, capsys, tmp_path, _images(dh), listfile, tmp_path / "db")
    assert "list.txt:2: the label -1 is negative" in line and "0 <= label < num_output" in line


def test_a_file_that_does_not_decode_is_cannot_decode(dh, tmp_path, capsys):
    listfile = tmp_path / "list.txt"
    listfile.write_text("c_stripes/not_an_image.jpg 2\n")
    line, err = _refused(dh, capsys, tmp_path, _images(dh), listfile, tmp_path / "db")
    assert "the files are there but are not images OpenCV reads" in line and "ROOTFOLDER" not in line
    assert (f"warning: line 1: cannot decode {_images(dh)}c_stripes/not_an_image.jpg (not an image OpenCV reads) "
            "(skipped)") in err.splitlines()


@pytest.mark.parametrize("make, what", [("file", "is a file, not a folder"), ("none", "does not exist")])
def test_a_rootfolder_that_is_not_a_folder_is_one_line(dh, tmp_path, capsys, make, what):
    root = tmp_path / "root"
    if make == "file":
        root.write_text("not a folder")
    listfile = tmp_path / "list.txt"
    shutil.copy(dh.FX / "train.txt", listfile)
    before = dh.snapshot(tmp_path, dh.FX)
    line, err = dh.cli_error(capsys, "convert-imageset", root, listfile, tmp_path / "db")
    assert "warning" not in err and f"ROOTFOLDER {root} {what}" in line and "list.txt are relative to" in line
    assert dh.snapshot(tmp_path, dh.FX) == before and not (tmp_path / "db").exists()


def test_warnings_are_one_line_per_image_when_the_root_is_a_folder(dh, tmp_path, capsys):
    from tunewiz.cli import main

    assert main(["convert-imageset", str(tmp_path) + "/", str(dh.FX / "val.txt"), str(tmp_path / "db")]) == 2
    err = capsys.readouterr().err
    assert err.count("warning: line") == 6 and "check ROOTFOLDER" in err  # the files are missing there


def test_class_folder_messages_speak_of_class_folders(dh, tmp_path, capsys):
    root = tmp_path / "classes"
    for name in ("cats", "dogs"):
        (root / name).mkdir(parents=True)
        (root / name / "a.jpg").write_text("not a jpeg")
    line, err = _refused(dh, capsys, tmp_path, str(root) + "/", tmp_path / "db")
    assert "images in the class folders of" in line and "list" not in line
    warnings = [w for w in err.splitlines() if w.startswith("warning:")]
    assert warnings == [f"warning: cannot decode {root}/{name}/a.jpg (not an image OpenCV reads) (skipped)"
                        for name in ("cats", "dogs")]  # no "line N": class folders have no lines


def test_a_class_root_that_is_a_file_is_one_line(dh, tmp_path, capsys):
    (tmp_path / "root").write_text("x")
    line, _ = _refused(dh, capsys, tmp_path, tmp_path / "root", tmp_path / "db")
    assert "root: not a folder (it is a file)" in line and "one sub-folder of images per class" in line


@pytest.mark.parametrize("flags", [["--resize_width", "-5"], ["--resize_width", "32", "--resize_height", "-1"]])
def test_negative_sizes_are_refused(dh, tmp_path, capsys, flags):
    line, err = _refused(dh, capsys, tmp_path, *flags, _images(dh), dh.FX / "val.txt", tmp_path / "db")
    flag, value = flags[-2:]
    assert f"{flag} {value}: image sizes must be >= 0" in line and "only one of" not in err
