"""Checks before a run: what would fail later is said first, with the fix.

- ``datafit.py``, ``datafit_probe.py``: the data fits the net (record sizes, channels, crops, weights);
- ``learning.py``: a TRAIN net can learn (a loss, something learnable before it);
- ``phasecheck.py``: every bottom of a phase is made by a layer of that phase;
- ``memory.py``, ``memfit.py``, ``memcheck.py``: the nets fit in RAM or GPU memory, and what fits if not;
- ``batchsplit.py``: the batch_size x iter_size (or test_iter) that keeps the effective batch.
"""
