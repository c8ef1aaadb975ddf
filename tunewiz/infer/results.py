"""What ``tunewiz classify`` makes of its results: classification.cpp's lines, the accuracy, the JSON record.

classification.cpp prints, per image::

    ---------- Prediction for FILE ----------
    0.9988 - "label"                               # std::fixed << std::setprecision(4), highest first

(without labels the class index stands between the quotes).  When the images come with their true class
(a ``path label`` list, or class folders named as the labels), top-1 and top-k accuracy are counted over
the images that were classified.
"""
from __future__ import annotations

from dataclasses import dataclass

from tunewiz.infer.classify import Classified, Unreadable


def prediction_lines(result: Classified) -> list[str]:
    """classification.cpp's lines for one image."""
    lines = [f"---------- Prediction for {result.path} ----------"]
    lines += [f'{p.probability:.4f} - "{p.name}"' for p in result.predictions]
    return lines


@dataclass
class Tally:
    """Counts over the results: classified, unreadable, and right at top-1 / top-k among those with a truth."""

    classified: int = 0
    unreadable: int = 0
    with_truth: int = 0
    top1: int = 0
    topk: int = 0

    def add(self, result: Classified | Unreadable) -> None:
        if isinstance(result, Unreadable):
            self.unreadable += 1
            return
        self.classified += 1
        if result.truth is None:
            return
        self.with_truth += 1
        indices = [p.index for p in result.predictions]
        self.top1 += bool(indices) and indices[0] == result.truth
        self.topk += result.truth in indices

    def accuracy(self, top_k: int) -> dict | None:
        """{"images", "top1", f"top{k}"} over the images with a known class, or None when none has one."""
        if not self.with_truth:
            return None
        return {"images": self.with_truth, "top1": self.top1 / self.with_truth,
                f"top{top_k}": self.topk / self.with_truth}

    def accuracy_line(self, top_k: int) -> str | None:
        """One line for stderr, or None when no image had a known class."""
        acc = self.accuracy(top_k)
        if acc is None:
            return None
        line = f"accuracy over {self.with_truth} images with a known class: top-1 {acc['top1']:.4f} ({self.top1})"
        return line + (f", top-{top_k} {acc[f'top{top_k}']:.4f} ({self.topk})" if top_k > 1 else "")


def result_record(result: Classified | Unreadable) -> dict:
    """One image in the JSON file."""
    record: dict = {"file": result.path}
    if isinstance(result, Unreadable):
        record["error"] = result.message
    else:
        record["predictions"] = [{"index": p.index, "label": p.label, "probability": p.probability}
                                 for p in result.predictions]
    if result.truth is not None:
        record["true"] = result.truth
    return record
