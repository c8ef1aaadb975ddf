"""``tunewiz.pycaffe.coord_map`` (pycaffe's ``caffe.coord_map``): the cases and numbers of Caffe's own
``python/caffe/test/test_coord_map.py``, on tunewiz's NetSpec."""
import numpy as np
import pytest

import tunewiz
from tunewiz import layers as L, params as P
from tunewiz.pycaffe.coord_map import coord_map_from_to, crop


def coord_net_spec(ks=3, stride=1, pad=0, pool=2, dstride=2, dpad=0, nested=False):
    """The conv-pool-deconv net every case maps through (``nested``: the deconv's fields in
    ``convolution_param``, as ``to_proto`` needs them; Caffe's test passes them flat and never writes it)."""
    n = tunewiz.NetSpec()
    n.data = L.Input(shape=dict(dim=[2, 1, 100, 100]))
    n.aux = L.Input(shape=dict(dim=[2, 1, 20, 20]))
    n.conv = L.Convolution(n.data, num_output=10, kernel_size=ks, stride=stride, pad=pad)
    n.pool = L.Pooling(n.conv, pool=P.Pooling.MAX, kernel_size=pool, stride=pool, pad=0)
    deconv_ks = [s * 2 for s in dstride] if isinstance(dstride, list) else dstride * 2  # upsampling: 2x stride
    deconv = dict(num_output=10, kernel_size=deconv_ks, stride=dstride, pad=dpad)
    n.deconv = L.Deconvolution(n.pool, **(dict(convolution_param=deconv) if nested else deconv))
    return n


def test_conv_pool_deconv():
    n = coord_net_spec()
    assert coord_map_from_to(n.deconv, n.data) == (1, 1, 0)  # 2x pool, 2x deconv: identity
    n = coord_net_spec(pool=4, dstride=4)
    assert coord_map_from_to(n.deconv, n.data) == (1, 1, -1)  # 4x: shift by one


def test_pass_through_and_1x1_conv_are_identity():
    n = coord_net_spec()
    ax, a, b = coord_map_from_to(n.deconv, n.data)
    n.relu = L.ReLU(n.deconv)
    n.conv1x1 = L.Convolution(n.relu, num_output=10, kernel_size=1, stride=1, pad=0)
    for top in (n.relu, n.conv1x1):
        assert coord_map_from_to(top, n.data) == (ax, a, b)


@pytest.mark.parametrize("pad", [0, 1, 7, 10])
def test_conv_padding_adds_deconv_padding_subtracts(pad):
    n = coord_net_spec()
    ax, a, b = coord_map_from_to(n.deconv, n.data)
    for spec, want in ((dict(pad=pad), b - pad), (dict(dpad=pad), b + pad), (dict(pad=pad, dpad=pad), b)):
        n = coord_net_spec(**spec)
        _, a_pad, b_pad = coord_map_from_to(n.deconv, n.data)
        assert a_pad == a and b_pad == want


def test_multiple_bottoms_and_tops_map_alike():
    n = coord_net_spec()
    n.conv_data, n.conv_aux = L.Convolution(n.data, n.aux, ntop=2, num_output=10, kernel_size=5, stride=2, pad=0)
    assert coord_map_from_to(n.conv_data, n.data) == coord_map_from_to(n.conv_aux, n.aux)


def test_anisotropic_is_its_isotropic_parts():
    n3x3 = coord_net_spec(ks=3, stride=1, pad=0)
    n5x5 = coord_net_spec(ks=5, stride=2, pad=10)
    n3x5 = coord_net_spec(ks=[3, 5], stride=[1, 2], pad=[0, 10])
    ax_3, a_3, b_3 = coord_map_from_to(n3x3.deconv, n3x3.data)
    ax_5, a_5, b_5 = coord_map_from_to(n5x5.deconv, n5x5.data)
    ax, a, b = coord_map_from_to(n3x5.deconv, n3x5.data)
    assert ax_3 == ax_5 == ax
    assert (a_3, b_3) == (a[0], b[0]) and (a_5, b_5) == (a[1], b[1])


def test_nd_conv():
    n = tunewiz.NetSpec()
    n.data = L.Input(shape=dict(dim=[2, 3, 100, 100, 100]))
    n.conv = L.Convolution(n.data, num_output=10, kernel_size=[3, 3, 3], stride=[1, 1, 1], pad=[0, 1, 2])
    n.pool = L.Pooling(n.conv, pool=P.Pooling.MAX, kernel_size=2, stride=2, pad=0)
    n.deconv = L.Deconvolution(n.pool, num_output=10, kernel_size=4, stride=2, pad=0)
    ax, a, b = coord_map_from_to(n.deconv, n.data)
    assert ax == 1 and len(a) == len(b) == 3 and np.all(a == 1)
    assert b[0] - 1 == b[1] and b[1] - 1 == b[2]


@pytest.mark.parametrize("offset", [0, 3, 10])
def test_crop_of_crop_adds_the_offset(offset):
    n = coord_net_spec()
    ax, a, b = coord_map_from_to(n.deconv, n.data)
    n.crop = L.Crop(n.deconv, n.data, axis=2, offset=offset)
    assert coord_map_from_to(n.crop, n.data) == (ax, a, b + offset)


def test_crop_helper_defines_the_crop_layer():
    n = coord_net_spec(pool=4, dstride=4, nested=True)
    n.crop = crop(n.deconv, n.data)
    layer = n.to_proto().layer[-1]
    assert layer.type == "Crop" and list(layer.bottom) == ["deconv", "data"]
    assert layer.crop_param.axis == 2 and list(layer.crop_param.offset) == [1]
    n = coord_net_spec(nested=True)
    n.crop = crop(n.deconv, n.data)
    assert list(n.to_proto().layer[-1].crop_param.offset) == [0]


def test_unconnected_tops_are_a_runtime_error():
    n = coord_net_spec()
    n.ip = L.InnerProduct(n.deconv, num_output=10)
    with pytest.raises(RuntimeError, match="connected by spatial layers"):
        coord_map_from_to(n.ip, n.data)


def test_scale_mismatch_and_negative_offset_cannot_crop():
    n = coord_net_spec(pool=3, dstride=2)  # pool 3x, deconv 2x
    with pytest.raises(AssertionError, match="scale mismatch"):
        crop(n.deconv, n.data)
    n = coord_net_spec(dpad=10)  # output smaller than input
    with pytest.raises(AssertionError, match="negative offset"):
        crop(n.deconv, n.data)


def test_legacy_h_w_params_are_refused():
    n = tunewiz.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 10, 10]))
    n.conv = L.Convolution(n.data, num_output=1, kernel_h=3, kernel_w=3)
    with pytest.raises(AssertionError, match="legacy _h/_w"):
        coord_map_from_to(n.conv, n.data)
