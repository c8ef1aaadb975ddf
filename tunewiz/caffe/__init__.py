"""Caffe's file formats: schema, prototxt, caffemodel, solverstate, binaryproto, upgrades."""
