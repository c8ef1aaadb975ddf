"""``Blob``: shape, count, legacy axes, reshape, and ``.data``/``.diff`` bound to the tensors."""
import numpy as np
import pytest
import torch

from tunewiz.pycaffe.blob import Blob, ParamBlob


def test_shape_count_and_legacy_axes():
    blob = Blob((2, 3, 4, 5))
    assert blob.shape == (2, 3, 4, 5) and blob.count == 120
    assert (blob.num, blob.channels, blob.height, blob.width) == (2, 3, 4, 5)
    small = Blob((7, 9))
    assert (small.num, small.channels, small.height, small.width) == (7, 9, 1, 1)
    with pytest.raises(RuntimeError, match="at most 4 axes"):
        Blob((1, 2, 3, 4, 5)).num  # noqa: B018


def test_data_and_diff_are_writable_views():
    blob = Blob((2, 3))
    view = blob.data
    view[...] = 7
    assert float(blob._data.sum()) == 42
    blob.store(torch.ones(2, 3))
    assert (view == 1).all()  # the array taken before sees the stored values
    blob.diff[0, 0] = 5
    assert blob._diff[0, 0] == 5


def test_reshape_takes_dims_or_a_tuple():
    blob = Blob((1, 3))
    blob.reshape(4, 3)
    assert blob.shape == (4, 3) and blob.data.shape == (4, 3) and blob.diff.shape == (4, 3)
    blob.reshape((2, 2, 2))
    assert blob.shape == (2, 2, 2)
    with pytest.raises(RuntimeError, match="0 or more"):
        blob.reshape(-1, 2)


def test_param_blob_is_the_parameter_on_the_cpu():
    param = torch.nn.Parameter(torch.zeros(3, 2))
    blob = ParamBlob(param)
    blob.data[...] = 2
    assert float(param.detach().sum()) == 12
    blob.accumulate(torch.ones(3, 2))
    blob.accumulate(torch.ones(3, 2))
    assert (blob.diff == 2).all() and np.shares_memory(blob.diff, param.grad.numpy())
    param.grad = None  # e.g. an optimizer's zero_grad(set_to_none=True)
    assert (blob.diff == 0).all() and param.grad is not None
    with pytest.raises(RuntimeError, match="param blob"):
        blob.reshape(1, 6)


def test_mirrored_param_blob_pushes_and_pulls():
    """The GPU path's host mirror, run here on a CPU parameter forced to be mirrored."""
    param = torch.nn.Parameter(torch.ones(4))
    blob = ParamBlob(param)
    blob.mirrored = True
    blob._data, blob._diff = blob._data.clone(), torch.zeros(4)
    blob.data[...] = 3
    assert float(param.detach().sum()) == 4  # not yet on the "device"
    blob.push()
    assert float(param.detach().sum()) == 12
    blob.accumulate(torch.full((4,), 0.5))
    blob.pull()
    assert (blob.diff == 0.5).all()
