"""pycaffe's ``caffe.Layer``: the base class of a ``type: "Python"`` layer's class.

The engine runs such layers (:mod:`tunewiz.engine.layers.python`); this is the name pycaffe scripts
subclass (``class MyLoss(caffe.Layer)``), the engine's class under pycaffe's name.
"""
from tunewiz.engine.layers.python import PythonLayer as Layer

__all__ = ["Layer"]
