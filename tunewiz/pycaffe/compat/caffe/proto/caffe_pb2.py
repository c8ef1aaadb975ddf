"""pycaffe's ``caffe.proto.caffe_pb2``: tunewiz's generated ``tunewiz.caffe.caffe_pb2``, under pycaffe's name.

One module with two names, so messages made through either are the same classes.
"""
import sys

from tunewiz.caffe import caffe_pb2 as _module

sys.modules[__name__] = _module
