"""Bring an old net definition up to date before the engine builds it.

V0/V1 nets (``layers { type: CONVOLUTION }``), old data-transform fields and the deprecated input
fields go through ``tunewiz.caffe.upgrade.upgrade_net_param`` (Caffe's ``UpgradeNetAsNeeded``), on a
copy, so the caller's message (which may be written back in the user's own V1 style) is untouched.
"""
from __future__ import annotations

from tunewiz.caffe import caffe_pb2, upgrade


def upgraded(net_param: caffe_pb2.NetParameter) -> caffe_pb2.NetParameter:
    """A current-format copy of ``net_param`` (the input itself when nothing is old)."""
    if not upgrade.net_needs_upgrade(net_param):
        return net_param
    copy = caffe_pb2.NetParameter()
    copy.CopyFrom(net_param)
    return upgrade.upgrade_net_param(copy)
