"""A train_val (and a solver) for a model released as ``deploy.prototxt`` + weights only.

Many released models (open_nsfw, MobileNet-Caffe, the ResNets…) ship no train_val.  From the deploy:

* the ``Input`` layer (or ``input:`` + ``input_dim`` / ``input_shape``, V1 files too) becomes two
  ``Data`` layers reading the new databases, TRAIN and TEST, with the label as second top;
* ``transform_param``: ``crop_size`` = the deploy's input size when the records are larger (random
  crops in TRAIN, the centre in TEST, as Caffe's ImageNet examples), ``mirror`` in TRAIN, and the
  preprocessing the pretrained weights learned — mean values or file and scale — which a deploy
  does not record, so the user must say it (the message lists the usual choices);
* a trailing ``Softmax`` is dropped (kept in the deploy); ``SoftmaxWithLoss`` reads what it read,
  with the label, and an ``Accuracy`` (TEST) beside it;
* the solver, when none is given: SGD with Caffe's fine-tuning defaults (momentum 0.9,
  weight_decay 5e-4, ``step`` policy, gamma 0.1) and base_lr 0.01, the from-scratch rate that the
  recipe then divides (÷10 by default: 0.001).
"""
from __future__ import annotations

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.upgrade import upgraded_copy
from tunewiz.recipe.layers import RecipeError, layers_of

DATA_TYPES = {"Data", "ImageData", "HDF5Data", "MemoryData", "WindowData", "DummyData", "Python"}
TRAIN_BATCH, TEST_BATCH = 32, 50
PREPROCESSING = ("--mean-value 104,117,123 (Caffe's ImageNet models — CaffeNet, AlexNet, GoogLeNet, SqueezeNet: "
                 "BGR 0-255), --mean-file MEAN.binaryproto (the model's own mean), --mean-value 0,0,0 (nothing "
                 "subtracted); add --scale S when the model was trained on scaled pixels (e.g. 0.017)")


def kind_of(net: caffe_pb2.NetParameter, path: str) -> str:
    """'train_val' (it reads data), 'deploy' (an input to feed), or a RecipeError for anything else."""
    types = {r.type for r in layers_of(net)}
    if types & DATA_TYPES:
        return "train_val"
    if "Input" in types or len(net.input) or len(net.input_shape):
        return "deploy"
    raise RecipeError(f"{path}: neither a train_val (no Data/ImageData layer) nor a deploy (no Input layer, no "
                      "input: field); give the net definition of the model you fine-tune")


def _input(deploy) -> tuple[str, tuple[int, ...]]:
    """The deploy's input blob and its N, C, H, W."""
    for layer in deploy.layer:
        if layer.type == "Input" and layer.input_param.shape:
            return layer.top[0], tuple(layer.input_param.shape[0].dim)
    raise RecipeError("the deploy has no input shape (Input layer with input_param.shape)")


def _data_layer(name: str, top: str, phase: int, source: str, batch: int, transform) -> caffe_pb2.LayerParameter:
    from tunewiz.data.db import detect_backend

    layer = caffe_pb2.LayerParameter(name=name, type="Data", top=[top, "label"])
    layer.include.add(phase=phase)
    layer.transform_param.CopyFrom(transform)
    if phase == caffe_pb2.TRAIN and transform.crop_size:
        layer.transform_param.mirror = True
    layer.data_param.source, layer.data_param.batch_size = source, batch
    backend = detect_backend(source) or "lmdb"
    layer.data_param.backend = caffe_pb2.DataParameter.DB.Value(backend.upper())
    return layer


def _transform(shape, chw, mean_file, mean_value, scale) -> tuple[caffe_pb2.TransformationParameter, list[str]]:
    _, c, h, w = shape
    rc, rh, rw = chw
    tp, lines = caffe_pb2.TransformationParameter(), []
    if rc != c:
        raise RecipeError(f"the deploy takes {c} channel(s), the records have {rc}: convert the images "
                          f"{'without' if c == 3 else 'with'} --gray")
    if len(mean_value) not in (0, 1, c):  # Caffe stops at the first batch: "Specify either 1 mean_value or as many"
        raise RecipeError(f"--mean-value {','.join(f'{v:g}' for v in mean_value)}: the deploy takes {c} channel(s), "
                          f"so give 1 value or {c} (104,117,123 is for colour BGR ImageNet models)")
    if (rh, rw) != (h, w):
        if h != w or rh < h or rw < w:
            raise RecipeError(f"the deploy takes {h}x{w} images, the records are {rh}x{rw}: convert them at "
                              f"{h}x{w} (tunewiz convert-imageset --resize_height {h} --resize_width {w} …) or "
                              "larger, square, for random crops")
        tp.crop_size = h
        lines.append(f"crop_size {h}: the deploy's input; random {h}x{h} crops of the {rh}x{rw} records in "
                     "TRAIN (and mirror), the centre in TEST")
    if mean_file:
        tp.mean_file = mean_file
    else:
        tp.mean_value.extend(mean_value)
    if scale is not None:
        tp.scale = scale
    lines.append("preprocessing as you said: " + (f"mean_file {mean_file}" if mean_file else
                 "mean_value " + ", ".join(f"{v:g}" for v in mean_value)) + (f", scale {scale:g}" if scale else ""))
    return tp, lines


def train_val_from_deploy(deploy: caffe_pb2.NetParameter, path: str, *, chw, train_db: str, val_db: str,
                          val_count: int, train_count: int, mean_file=None, mean_value=(), scale=None,
                          train_batch: int | None = None) -> tuple[caffe_pb2.NetParameter, list[str]]:
    """The train_val written from ``deploy`` (left untouched) and the lines saying what was made."""
    if not mean_file and not mean_value:
        raise RecipeError(f"{path} is a deploy file: tunewiz writes its train_val, but a deploy does not say "
                          f"which preprocessing the weights learned; give it: {PREPROCESSING}")
    d, _ = upgraded_copy(deploy)
    top, shape = _input(d)
    transform, lines = _transform(shape, chw, mean_file, mean_value, scale)
    test_batch = min(TEST_BATCH, max(val_count, 1))  # a batch no larger than the data: nothing read twice
    train_batch = train_batch or min(TRAIN_BATCH, max(train_count, 1))
    net = caffe_pb2.NetParameter(name=d.name)
    net.layer.append(_data_layer("data", top, caffe_pb2.TRAIN, train_db, train_batch, transform))
    net.layer.append(_data_layer("data", top, caffe_pb2.TEST, val_db, test_batch, transform))
    body = [layer for layer in d.layer if layer.type != "Input"]
    logits = body[-1].top[0] if body and body[-1].top else top
    if body and body[-1].type == "Softmax":
        logits = body[-1].bottom[0]
        lines.append(f"'{body[-1].name}' (Softmax) dropped: SoftmaxWithLoss computes it with the loss "
                     "(the deploy keeps it)")
        body = body[:-1]
    net.layer.extend(body)
    _check_classifier(net, logits, chw)
    net.layer.append(caffe_pb2.LayerParameter(name="loss", type="SoftmaxWithLoss", bottom=[logits, "label"],
                                              top=["loss"]))
    acc = net.layer.add(name="accuracy", type="Accuracy", bottom=[logits, "label"], top=["accuracy"])
    acc.include.add(phase=caffe_pb2.TEST)
    lines = [f"train_val written from the deploy: Data layers (TRAIN batch {train_batch}, TEST "
             f"batch {test_batch}) in place of its input '{top}' ({'x'.join(map(str, shape))})"] + lines
    lines.append(f"SoftmaxWithLoss 'loss' and Accuracy 'accuracy' (TEST) read '{logits}' and the label")
    return net, lines


def _check_classifier(net, logits: str, chw) -> None:
    """The loss must read one score per class and image (N x C, or N x C x 1 x 1)."""
    from tunewiz.recipe.shape_net import build_meta

    built = build_meta(net, chw)
    shape = built.blob_shapes.get(logits, ())
    if len(shape) > 2 and any(d != 1 for d in shape[2:]):
        raise RecipeError(f"the deploy's output '{logits}' is {'x'.join(map(str, shape))}, a map, not one score "
                          "per class: this is not a classifier; tunewiz fine-tunes classifiers")


def default_solver() -> caffe_pb2.SolverParameter:
    """Caffe's fine-tuning defaults for a model released without a solver."""
    return caffe_pb2.SolverParameter(type="SGD", base_lr=0.01, lr_policy="step", gamma=0.1, stepsize=100000,
                                     momentum=0.9, weight_decay=0.0005, max_iter=450000, display=20,
                                     test_iter=[1000], test_interval=1000, snapshot=10000)
