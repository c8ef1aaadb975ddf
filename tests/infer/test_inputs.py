"""The images classify is given: list files (plain paths or Caffe's ``path label``) and folders."""
from __future__ import annotations

import pytest

from tunewiz.errors import TunewizError
from tunewiz.infer.classify import Item
from tunewiz.infer.inputs import folder_items, list_items


def test_list_lines_are_paths_or_path_label(tmp_path):
    for name in ("a.png", "b c.png", "d 7"):
        (tmp_path / name).write_bytes(b"")
    listing = tmp_path / "list.txt"
    listing.write_text("a.png\r\nb c.png 1\n\nd 7\nmissing.png 3\n")
    assert list_items(str(listing), str(tmp_path)) == [
        Item(str(tmp_path / "a.png")), Item(str(tmp_path / "b c.png"), 1),
        Item(str(tmp_path / "d 7")),  # the whole line is a file: a name that ends in a number
        Item(str(tmp_path / "missing.png"), 3)]


def test_list_refusals(tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(TunewizError, match="no image paths"):
        list_items(str(tmp_path / "empty.txt"))
    (tmp_path / "rel.txt").write_text("x/1.png 0\n")
    with pytest.raises(TunewizError, match="none of its 1 paths is a file .*give --root FOLDER"):
        list_items(str(tmp_path / "rel.txt"))
    with pytest.raises(TunewizError, match="list file not found"):
        list_items(str(tmp_path / "none.txt"))


def test_folder_walks_sorted_and_class_folders_give_truths(tmp_path):
    for rel in ("cat/2.jpg", "cat/1.PNG", "dog/deep/3.png", "top.bmp", "notes.txt", "bird/4.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    items = folder_items(str(tmp_path), ["cat", "dog"])
    assert [(i.path[len(str(tmp_path)) + 1:], i.truth) for i in items] == [
        ("bird/4.png", None), ("cat/1.PNG", 0), ("cat/2.jpg", 0), ("dog/deep/3.png", 1), ("top.bmp", None)]
    assert all(i.truth is None for i in folder_items(str(tmp_path)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TunewizError, match="no image files"):
        folder_items(str(tmp_path / "empty"))
    with pytest.raises(TunewizError, match="not a folder"):
        folder_items(str(tmp_path / "top.bmp"))
