"""The errors pycaffe raises as ``RuntimeError`` (a bad graph, weights that do not fit): here they are
``RuntimeError`` subclasses too, and ``TunewizError`` ones, so the CLI prints them as one line."""
from __future__ import annotations

from tunewiz.errors import TunewizError


class PycaffeError(TunewizError, RuntimeError):
    """What pycaffe reports as a ``RuntimeError`` (Caffe's CHECK failures, raised instead of aborting)."""
