"""pycaffe's Python API (``caffe``) on tunewiz."""
