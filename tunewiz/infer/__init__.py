"""Use a trained net: classify image files as Caffe's examples do, and score it on a validation set.

``preprocess`` holds the two preprocessing conventions (``examples/cpp_classification`` and
``python/classify.py``), ``classify`` batches images through a deploy net for top-k (``inputs``: lists and
folders; ``results``: the printed lines, accuracy, JSON), ``runpick`` finds a run folder's deploy, best
snapshot, mean, scale and labels (``runclassify``: both together, for the wizard), ``labels`` reads class
names, and ``evaluate``/``targets``/``confusion``/``report`` score a net over exactly one pass of its
validation set (per-class accuracy, precision/recall, top-k, the confusion matrix, the most confident
mistakes).
"""
