"""The events a conversion yields (``tunewiz.data.imageset``; also importable from there).

``Started`` (images to convert), ``Note`` (a remark on the options), ``Skipped`` (an image that
could not be read: ``line`` is the list's 1-based line, or the position in the class folders'
order), ``Progress`` (the run folder's one progress event, :class:`tunewiz.runs.events.Progress`), then
``Finished`` or ``Stopped`` (the stop event was set).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Started:
    db: str
    total: int


@dataclass
class Note:
    db: str
    message: str


@dataclass
class Skipped:
    db: str
    line: int  # 1-based line of the list (key index + 1)
    path: str
    reason: str


@dataclass
class Finished:
    db: str
    records: int
    skipped: int
    classes: int
    seconds: float
    labels_file: str | None = None


@dataclass
class Stopped:
    db: str
    done: int
