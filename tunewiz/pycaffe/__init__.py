"""pycaffe's API on tunewiz's engine: what ``import tunewiz`` (or ``import tunewiz as caffe``) gives.

- ``mode.py``: ``TRAIN``/``TEST``, ``set_mode_cpu``/``set_mode_gpu``/``set_device``, ``set_random_seed``,
  ``layer_type_list`` (light: torch is imported only when a net is made or a seed is set);
- ``blob.py``: ``Blob``: ``.data``/``.diff`` as numpy arrays bound to the net;
- ``net.py``: ``Net``: pycaffe's ``caffe.Net`` over ``tunewiz.engine.net.net.Net``;
- ``passes.py``: forward and backward over a range of layers, as Caffe's ``ForwardFromTo``/``BackwardFromTo``;
- ``io.py``: ``caffe.io``: images, ``Transformer``, BlobProto/Datum arrays (the image numerics and the
  ``Transformer`` live in ``tunewiz.data``: ``pycaffe_images``, ``resample``, ``transformer``);
- ``layer.py``: ``Layer``, the base class of a Python layer (the engine runs it: ``engine/layers/python.py``);
- ``solver.py``: ``SGDSolver`` ... ``AdamSolver``, ``get_solver``: pycaffe's solvers on the engine's ``Solver``;
- ``classifier.py``: ``Classifier``: pycaffe's image classifier on ``Net`` and ``io``;
- ``compat/caffe/``: the ``caffe`` package for unchanged scripts (``tunewiz pycaffe --path``), off sys.path;
- ``net_spec.py``: ``NetSpec``, ``layers`` (``L``), ``params`` (``P``), ``to_proto``: a net built in Python.

The package ``tunewiz`` re-exports these names lazily (PEP 562), so importing it stays light.
"""
