"""Python layers for the tests, as a user writes them: Caffe's own ``examples/pycaffe/layers/pyloss.py``
(EuclideanLossLayer, unchanged but for the base class) and a data layer that fills a batch.

Put this folder on ``sys.path`` / ``PYTHONPATH`` (the tests do), then ``python_param { module: "pyloss" }``.
"""
import numpy as np

from tunewiz.engine.layers.python import PythonLayer


class EuclideanLossLayer(PythonLayer):
    """Compute the Euclidean Loss in the same manner as the C++ EuclideanLossLayer."""

    def setup(self, bottom, top):
        if len(bottom) != 2:
            raise Exception("Need two inputs to compute distance.")

    def reshape(self, bottom, top):
        if bottom[0].count != bottom[1].count:
            raise Exception("Inputs must have the same dimension.")
        self.diff = np.zeros_like(bottom[0].data, dtype=np.float32)
        top[0].reshape(1)

    def forward(self, bottom, top):
        self.diff[...] = bottom[0].data - bottom[1].data
        top[0].data[...] = np.sum(self.diff**2) / bottom[0].num / 2.

    def backward(self, top, propagate_down, bottom):
        for i in range(2):
            if not propagate_down[i]:
                continue
            sign = 1 if i == 0 else -1
            bottom[i].diff[...] = sign * self.diff / bottom[i].num


class LinearDataLayer(PythonLayer):
    """A data layer: ``param_str`` is "batch dim seed"; top 0 a batch of x, top 1 the targets y = x . w + 1
    for a fixed w, a new batch on every forward (a linear regression a net can learn)."""

    def setup(self, bottom, top):
        if bottom:
            raise Exception("LinearDataLayer takes no bottoms")
        batch, dim, seed = (int(v) for v in self.param_str.split())
        self.batch, self.dim = batch, dim
        self.rng = np.random.RandomState(seed)
        self.w = np.linspace(-1.0, 1.0, dim).astype(np.float32)
        self.seen_phase = self.phase

    def reshape(self, bottom, top):
        top[0].reshape(self.batch, self.dim)
        top[1].reshape(self.batch, 1)

    def forward(self, bottom, top):
        x = self.rng.randn(self.batch, self.dim).astype(np.float32)
        top[0].data[...] = x
        top[1].data[...] = (x @ self.w + 1.0)[:, None]

    def backward(self, top, propagate_down, bottom):
        pass


class InnerProductLayer(PythonLayer):
    """A learnable layer: ``param_str`` is num_output; one weight blob (num_output x dim, no bias),
    filled in setup from a seeded RandomState."""

    def setup(self, bottom, top):
        self.num_output = int(self.param_str)
        dim = bottom[0].count // bottom[0].num
        self.blobs.add_blob(self.num_output, dim)
        self.blobs[0].data[...] = np.random.RandomState(0).randn(self.num_output, dim)

    def reshape(self, bottom, top):
        top[0].reshape(bottom[0].num, self.num_output)

    def forward(self, bottom, top):
        top[0].data[...] = bottom[0].data.reshape(bottom[0].num, -1) @ self.blobs[0].data.T

    def backward(self, top, propagate_down, bottom):
        x = bottom[0].data.reshape(bottom[0].num, -1)
        self.blobs[0].diff[...] += top[0].diff.T @ x
        if propagate_down[0]:
            bottom[0].diff[...] = (top[0].diff @ self.blobs[0].data).reshape(bottom[0].shape)


class BrokenSetupLayer(PythonLayer):
    """A layer whose setup raises (the error must name the layer and the class)."""

    def setup(self, bottom, top):
        raise ValueError("param_str must be a number")


class NotALayer:
    """A class that does not subclass the Layer base class."""


class BrokenForwardLayer(PythonLayer):
    """A layer whose forward fails inside numpy (the error must point at this file, not numpy's)."""

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].shape)

    def forward(self, bottom, top):
        top[0].data[...] = np.dot(bottom[0].data, np.zeros((7, 7)))
