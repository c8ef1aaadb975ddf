"""The engine: Caffe nets on PyTorch with Caffe's exact semantics.

- ``layers/``: Caffe's layer factory: a family per file, the registry, shared kernels;
- ``net/``: Caffe's ``Net``: one phase's layers, forward/backward, params, weights;
- ``solvers/``: the six update rules (a class each) and the lr policies;
- ``train/``: the ``Solver`` (step, test, snapshot, restore, solve), the trainer loop, the Caffe log;
- ``checks/``: what is said before a run (data fit, memory fit, can it learn, phase wiring);
- ``devices.py``, ``precision.py``, ``numbers.py``: the device, float precision, Caffe's float32 helpers.
"""
from tunewiz.threads import spin_briefly

spin_briefly()  # before this package imports torch
