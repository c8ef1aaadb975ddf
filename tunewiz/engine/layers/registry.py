"""The layer registry: one string-keyed table from Caffe's ``type`` to a layer class.

The table is built from :data:`FAMILIES`, the family modules of ``tunewiz.engine.layers`` named
one by one: each class a listed family defines with ``@register("Convolution", ...)`` implements
those types.  A module that is not listed contributes nothing, even when another module imports
it, so this tuple is the whole answer to "which layers are there" (``tests/engine/layers``
checks that it names every family module and that the Caffe cases of each family need it).
:func:`layer_class` raises an error listing the known types when a net names one we do not have
(a fork's layer).  The ``Layer`` base class and the errors live in ``base``.
"""
from __future__ import annotations

from types import ModuleType
from typing import Iterable

from tunewiz.engine.layers import (activation, blobs, data, loss_pointwise, loss_softmax, norm, python, recurrent,
                                   reduce, scale, shape, vision, window_data, windows)
from tunewiz.engine.layers.base import Layer, UnsupportedLayerError

FAMILIES: tuple[ModuleType, ...] = (
    vision, windows, activation, norm, scale, shape, blobs, reduce, recurrent, loss_softmax, loss_pointwise, data,
    window_data, python,
)


def registered_classes(module: ModuleType) -> list[type[Layer]]:
    """The layer classes ``module`` itself defines and marks with ``@register`` (not the ones it imports)."""
    return [cls for cls in vars(module).values()
            if isinstance(cls, type) and issubclass(cls, Layer) and cls.__module__ == module.__name__
            and vars(cls).get("type_names")]


def build_table(families: Iterable[ModuleType]) -> dict[str, type[Layer]]:
    """Caffe type -> class for the classes the ``families`` register; a type claimed twice is an error."""
    table: dict[str, type[Layer]] = {}
    for module in families:
        for cls in registered_classes(module):
            for name in cls.type_names:
                if name in table and table[name] is not cls:
                    raise RuntimeError(f"layer type {name!r} registered twice "
                                       f"({table[name].__module__} and {module.__name__})")
                table[name] = cls
    return table


LAYERS: dict[str, type[Layer]] = build_table(FAMILIES)


def known_types() -> list[str]:
    return sorted(LAYERS)


def layer_class(type_name: str, layer_name: str = "?") -> type[Layer]:
    """The class for a Caffe layer type, or a clear error listing the supported ones."""
    try:
        return LAYERS[type_name]
    except KeyError:
        raise UnsupportedLayerError(
            f"layer '{layer_name}' has type '{type_name}', which tunewiz does not support."
            f" Supported types: {', '.join(sorted(LAYERS))}."
        ) from None
