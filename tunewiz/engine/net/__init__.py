"""Caffe's ``Net`` on PyTorch, and what it is made of.

- ``net.py``: ``Net`` (Caffe's net.cpp): builds the layers of one phase, runs forward/backward, hooks;
- ``graph.py``: the wiring of bottoms and tops, in-place tops, the net's outputs;
- ``params.py``: Caffe's ``AppendParam``: learnable blobs, lr_mult/decay_mult, shared params;
- ``state.py``: ``NetState`` rules (phase, level, stage) that decide which layers a net has;
- ``shapes.py``: shapes without data (a net built on the meta device);
- ``weights.py``: weights in and out: ``CopyTrainedLayersFrom`` by layer name, ``ToProto``.
"""
