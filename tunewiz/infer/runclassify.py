"""Classify a file or a folder with a run folder's best snapshot, as ``tunewiz classify --run RUN PATH`` does
with its defaults (classification.cpp's preprocessing with the run's mean and scale, its labels).

What the wizard's Done screen offers ("Classify a file or folder..."): :func:`classify_in_run` yields the
header lines, then one :class:`~tunewiz.infer.classify.Classified` or ``Unreadable`` per image; it stops
between batches when ``stop`` is set.
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
    classifier = ImageClassifier(str(pick.deploy), str(pick.weights), settings, labels, "cpu", "torch", batch_size)
    try:
        yield f"with {pick.weights.name} ({pick.why}); {classifier.preprocess.describe()}"
        yield from classifier.notes
        for result in classifier.classify(items, top_k):
            yield result
            if stop is not None and stop.is_set():
                return
    finally:
        classifier.close()
