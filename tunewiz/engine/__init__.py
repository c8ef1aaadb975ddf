"""The engine: Caffe nets on PyTorch with Caffe's exact semantics (layers, solvers, trainer)."""
