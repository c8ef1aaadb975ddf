"""Classify a file or a folder with a run folder's best snapshot, as ``tunewiz classify --run RUN PATH`` does
with its defaults (classification.cpp's preprocessing with the run's mean and scale, its labels).

What the wizard's Done screen offers ("Classify a file or folder..."): :func:`classify_in_run` yields the
header lines, then one :class:`~tunewiz.infer.classify.Classified` or ``Unreadable`` per image; it stops
between batches when ``stop`` is set.  The last classifier is kept while its files stay as they were, so a
second quick try skips building the net, reading the weights and preparing the inference path.
"""
from __future__ import annotations

import os
from typing import Iterator

from tunewiz.errors import TunewizError
from tunewiz.infer.classify import Classified, ImageClassifier, Item, Unreadable
from tunewiz.infer.inputs import folder_items
from tunewiz.infer.labels import read_labels
from tunewiz.infer.preprocess import CPP, Settings
from tunewiz.infer.runpick import pick_run


def classify_in_run(run_dir, path: str, top_k: int = 3, stop=None,
                    batch_size: int = 16) -> Iterator[str | Classified | Unreadable]:
    """See the module docstring."""
    if not os.path.exists(path):
        raise TunewizError(f"{path}: no such file or folder; give an image file or a folder of images")
    pick = pick_run(run_dir)
    labels = read_labels(pick.labels) if pick.labels else None
    items = folder_items(path, labels) if os.path.isdir(path) else [Item(path)]
    settings = Settings(CPP, pick.mean_file, pick.mean_value, pick.scale)
    classifier = _classifier(pick, settings, labels, batch_size)
    yield f"with {pick.weights.name} ({pick.why}); {classifier.preprocess.describe()}"
    yield from classifier.notes
    for result in classifier.classify(items, top_k):
        yield result
        if stop is not None and stop.is_set():
            return


_LAST: list = []  # [(what it was made from, ImageClassifier)]


def _stamp(path) -> tuple:
    return (str(path), os.stat(path).st_mtime_ns, os.stat(path).st_size) if path and os.path.exists(path) else (str(path),)


def _classifier(pick, settings: Settings, labels, batch_size: int) -> ImageClassifier:
    """The classifier of the last call when made from the same files (unchanged) and settings, else a new one."""
    key = (_stamp(pick.deploy), _stamp(pick.weights), _stamp(pick.mean_file), settings, tuple(labels or ()), batch_size)
    if _LAST and _LAST[0][0] == key:
        return _LAST[0][1]
    while _LAST:
        _LAST.pop()[1].close()
    classifier = ImageClassifier(str(pick.deploy), str(pick.weights), settings, labels, "cpu", "torch", batch_size)
    _LAST.append((key, classifier))
    return classifier
