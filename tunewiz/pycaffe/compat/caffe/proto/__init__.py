"""pycaffe's ``caffe.proto``: holds ``caffe_pb2`` (``from caffe.proto import caffe_pb2``)."""
from . import caffe_pb2  # noqa: F401  (pycaffe's `import caffe` makes caffe.proto.caffe_pb2 reachable)
