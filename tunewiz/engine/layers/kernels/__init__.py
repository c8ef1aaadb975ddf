"""The numerics layer families share, none of them a layer itself:

* ``caffe_cpu``: Caffe's float32 CPU summation order (convolution, inner product, softmax loss), the
  forward a layer chooses with ``numerics="caffe"`` on the CPU; the convolution's im2col + per-image,
  per-group sgemm in ``caffe_conv``, BatchNorm's gemv statistics in ``caffe_bn``;
* ``pooling``: Caffe's 2-D pooling (ceil rounding, clip rule, AVE divisor, mask top);
* ``fillers``: Caffe's fillers (constant, gaussian, xavier, msra, bilinear, ...) for blobs and DummyData;
* ``lstm_unit``: Caffe's LSTMUnit step with its own Backward (LSTMUnit and LSTM).
"""
