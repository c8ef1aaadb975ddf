"""The images ``tunewiz classify`` is given: files, a list file, or a folder.

* ``--list FILE``: one image path per line; a Caffe ``path label`` line (split at the last space, as
  ``convert_imageset``) gives the path and the image's true class, unless the whole line is itself an
  existing file.  Relative paths are taken from ``root`` (convert-imageset's ROOTFOLDER; default the
  working directory).  Blank lines are skipped.
* ``--folder DIR``: every image file under DIR (sub-folders too), sorted by path; an image in a sub-folder
  named as one of the labels has that class as its truth (class folders, as convert-imageset reads them).
"""
from __future__ import annotations

import os

from tunewiz.data.datum import IMAGE_EXTENSIONS
from tunewiz.data.listfile import read_list_text
from tunewiz.errors import TunewizError
from tunewiz.infer.classify import Item


def list_items(source: str, root: str = "") -> list[Item]:
    """The images of a list file (see the module docstring)."""
    items = []
    for line in read_list_text(source).splitlines():
        line = line.rstrip("\r")
        if not line.strip():
            continue
        path, truth = _path_and_label(line, root)
        items.append(Item(path, truth))
    if not items:
        raise TunewizError(f"--list {source}: no image paths in it (one path, or 'path label', per line)")
    if not any(os.path.isfile(item.path) for item in items):
        raise TunewizError(f"--list {source}: none of its {len(items)} paths is a file (the first: {items[0].path}); "
                           "give --root FOLDER, the folder they are relative to (convert-imageset's ROOTFOLDER)")
    return items


def _path_and_label(line: str, root: str) -> tuple[str, int | None]:
    whole = os.path.join(root, line) if root else line
    head, sep, tail = line.rpartition(" ")
    if sep and head and _is_int(tail) and not os.path.isfile(whole):
        return (os.path.join(root, head) if root else head), int(tail)
    return whole, None


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def folder_items(folder: str, labels: list[str] | None = None) -> list[Item]:
    """The image files under ``folder``, sorted; truths from class sub-folders named as the labels."""
    if not os.path.isdir(folder):
        what = "it is a file" if os.path.exists(folder) else "it does not exist"
        raise TunewizError(f"--folder {folder}: not a folder ({what})")
    classes = {name: i for i, name in enumerate(labels or [])}
    items = []
    for base, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                path = os.path.join(base, name)
                parent = os.path.relpath(base, folder).split(os.sep)[0]
                items.append(Item(path, classes.get(parent) if parent != "." else None))
    if not items:
        raise TunewizError(f"--folder {folder}: no image files in it (extensions {', '.join(IMAGE_EXTENSIONS)})")
    return sorted(items, key=lambda item: item.path)
