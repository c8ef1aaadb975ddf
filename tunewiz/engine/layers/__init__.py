"""Caffe's layers on PyTorch, one family per module, found through ``registry.layer_class``.

The families (``registry.FAMILIES`` lists exactly these):

* ``vision``: Convolution, Deconvolution, Pooling, InnerProduct
* ``windows``: Im2col, SPP (spatial pyramid pooling)
* ``activation``: the element-wise neurons (ReLU, PReLU, ELU, Sigmoid, TanH, ..., Dropout)
* ``norm``: LRN, BatchNorm, MVN, Softmax
* ``scale``: Scale, Bias
* ``shape``: Eltwise, Concat, Slice, Split, Flatten, Reshape, Crop, Tile, Silence
* ``blobs``: Parameter, Filter, BatchReindex (a blob as a layer; items of the batch picked by value)
* ``reduce``: Reduction, ArgMax, Embed
* ``recurrent``: LSTMUnit, RNN, LSTM (Caffe's unrolled nets as a loop over time, Caffe's blob layout)
* ``loss_softmax``: SoftmaxWithLoss, InfogainLoss, MultinomialLogisticLoss (and the loss normalizer)
* ``loss_pointwise``: EuclideanLoss, SigmoidCrossEntropyLoss, HingeLoss, ContrastiveLoss, Accuracy
* ``data``: Input, DummyData, MemoryData, Data, ImageData, HDF5Data, HDF5Output
* ``window_data``: WindowData (R-CNN's window files: foreground/background sampling, context_pad, crop_mode)
* ``python``: Python (a user's pycaffe-style layer class, run on host numpy blobs)

``base`` holds the ``Layer`` base class (the contract every layer keeps, and how a layer chooses
its engine), ``@register`` and the errors; ``registry`` the family list and the table built from it
(kept apart so that the families import ``base`` and ``registry`` imports the families, no circle).
What several families share lives in ``kernels``: Caffe's CPU summation order (``kernels.caffe_cpu``,
``caffe_conv``, ``caffe_bn``: ``--numerics caffe``), Caffe's pooling (``kernels.pooling``), fillers (``kernels.fillers``) and the
LSTM step with Caffe's Backward (``kernels.lstm_unit``).
"""
