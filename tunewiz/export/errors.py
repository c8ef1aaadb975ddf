"""The error ``tunewiz export`` stops with: one line naming the layer (or file) and why."""
from __future__ import annotations

from tunewiz.errors import TunewizError


class ExportError(TunewizError):
    """A net, a layer or an output that cannot be exported with the same numbers."""


def layer_error(layer, reason: str) -> ExportError:
    """``layer 'NAME' (TYPE): REASON`` — the shape every refusal of one layer takes."""
    return ExportError(f"layer '{layer.name}' ({layer.param.type}): {reason}")
