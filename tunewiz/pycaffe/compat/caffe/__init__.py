"""The ``caffe`` compatibility package: ``import caffe`` gives tunewiz's pycaffe API, for unchanged scripts.

This folder's parent (``tunewiz/pycaffe/compat``) is not on ``sys.path`` by default, so a real pycaffe
the user installed is never shadowed; ``tunewiz pycaffe --path`` prints it
(``PYTHONPATH=$(tunewiz pycaffe --path) python script.py``) and ``tunewiz pycaffe SCRIPT`` runs a script
with it first on ``sys.path``.

``caffe.X`` is ``tunewiz.X`` for every public name of the package (``Net``, ``TEST``, ``io``,
``NetSpec``, ``layers``, ``params``, ``Classifier``, ...), loaded on first use as ``tunewiz`` loads
them, so ``import caffe`` is the same as ``import tunewiz as caffe`` and stays light.  The submodules
``caffe.proto.caffe_pb2``, ``caffe.io``, ``caffe.net_spec``, ``caffe.classifier``, ``caffe.coord_map`` and
``caffe.draw`` are tunewiz's modules under pycaffe's names (the same module objects).

The package is above every layer of tunewiz's import contract (it is the top package under another
name), so it reaches ``tunewiz`` through ``sys.modules``: importing ``tunewiz.pycaffe`` has loaded
its parent package first.
"""
import importlib
import sys

import tunewiz.pycaffe  # noqa: F401  (loads the package ``tunewiz`` too, a parent before its child)

_TUNEWIZ = sys.modules["tunewiz"]
#: pycaffe's submodules that are attributes of ``caffe`` once it is imported
_SUBMODULES = ("proto", "io", "net_spec", "classifier", "coord_map", "draw")

__all__ = list(_TUNEWIZ.__all__)


def __getattr__(name: str):
    """``caffe.X``: a submodule of this package, or ``tunewiz.X`` (kept once loaded)."""
    if name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    elif name in _TUNEWIZ.__all__:
        value = getattr(_TUNEWIZ, name)
    else:
        raise AttributeError(f"module 'caffe' (tunewiz's compatibility package) has no attribute '{name}'")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TUNEWIZ.__all__) | set(_SUBMODULES))
