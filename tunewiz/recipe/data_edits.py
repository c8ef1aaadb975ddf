"""Point the data layers at the new databases and check the preprocessing.

* ``Data`` layers get ``data_param.source`` (+ ``backend``) per phase: TRAIN -> the
  training DB, TEST -> the validation DB.  An ``ImageData`` layer given a database
  becomes a ``Data`` layer (same batch size and transform); given a list file it keeps
  ``image_data_param.source``.
* The mean: ``transform_param.mean_file`` or ``mean_value`` (Caffe's
  ``DataTransformer`` subtracts it before ``scale``: ``(pixel - mean) * scale``).
* The crop: ``DataTransformer`` CHECKs ``crop_size <= height/width`` of every datum,
  and a deploy input of H x W means the net was built for crops of that size.
* The preprocessing check: nets from the Model Zoo expect what Caffe's own tools
  write — BGR channel order, values 0-255, the training mean subtracted.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from tunewiz.caffe import caffe_pb2
from tunewiz.recipe.layers import RecipeError, LayerRef, layers_of

TRAIN, TEST = caffe_pb2.TRAIN, caffe_pb2.TEST
SCAN_LIMIT = 200_000


@dataclass
class DBSummary:
    """What a database holds (labels counted over up to SCAN_LIMIT records)."""

    path: str
    backend: str
    count: int
    labels: Counter
    channels: int
    height: int
    width: int
    encoded: bool
    float_data: bool
    mean_level: float

    @property
    def num_classes(self) -> int:
        return max(self.labels) + 1 if self.labels else 0


def summarize_db(path: str, first_only: bool = False) -> DBSummary:
    """Open a Caffe database and count its labels (only the first record's if asked); size of the first image."""
    from tunewiz.data.datum import datum_array, parse_datum
    from tunewiz.data.db import DBReader

    with DBReader(str(path)) as db:
        labels: Counter = Counter()
        first = None
        for i, (_, value) in enumerate(db):
            if i >= (1 if first_only else SCAN_LIMIT):
                break
            datum = parse_datum(value)
            labels[datum.label] += 1
            if first is None:
                first = datum
        if first is None:
            raise RecipeError(f"{path}: the database is empty; convert the images first (step 2, Data)")
        arr = datum_array(first)
        return DBSummary(str(path), db.backend, len(db), labels, int(arr.shape[0]), int(arr.shape[1]),
                         int(arr.shape[2]), bool(first.encoded), bool(len(first.float_data)),
                         float(arr.mean()))


def classes_from_db(summary: DBSummary, where: str = "--train-db") -> int:
    """The class count of the training data: labels must be 0..N-1 with N >= 2."""
    labels = sorted(summary.labels)
    if len(labels) < 2:
        raise RecipeError(f"{where} {summary.path}: every record has label {labels[0] if labels else '?'}: the "
                          "data have only one class; a classifier needs at least 2 (one folder per class)")
    if labels[0] < 0:
        raise RecipeError(f"{where} {summary.path}: negative label {labels[0]}; labels must be 0..N-1")
    missing = sorted(set(range(labels[-1] + 1)) - set(labels))
    if missing:
        raise RecipeError(f"{where} {summary.path}: labels {missing} never occur (labels found: {labels}); "
                          "Caffe needs labels 0..N-1 — renumber the list file")
    return labels[-1] + 1


def classes_in_folder(folder: str) -> list[str]:
    """Class folders of an image folder (convert-imageset's label order: sorted names); at least 2."""
    root = os.path.abspath(folder)
    if not os.path.isdir(root):
        raise RecipeError(f"{folder}: no such folder of class folders")
    names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    if len(names) < 2:
        found = f"only '{names[0]}'" if names else "no sub-folder"
        raise RecipeError(f"{folder}: {found}: the data have only one class; a classifier needs at least 2 "
                          "(put each class's images in its own sub-folder)")
    return names


@dataclass
class DataPlan:
    """Changes to the data layers and the warnings of the checks."""

    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _transform(ref: LayerRef):
    """The message holding scale/mean/crop/mirror (V1 may keep them in data_param)."""
    if ref.v1 and not ref.msg.HasField("transform_param") and ref.type == "Data":
        dp = ref.msg.data_param
        if dp.HasField("scale") or dp.HasField("mean_file") or dp.HasField("crop_size") or dp.HasField("mirror"):
            return dp
    return ref.msg.transform_param


def data_layers(net) -> list[LayerRef]:
    return [r for r in layers_of(net) if r.type in ("Data", "ImageData")]


def point_data_layers(net, train_source: str, val_source: str, plan: DataPlan,
                      mean_file: str | None = None, mean_value: list[float] | None = None) -> None:
    """Set the sources per phase (and the mean when given), in place."""
    refs = data_layers(net)
    if not refs:
        plan.warnings.append("the net has no Data/ImageData layer; point its data input at the new data by hand")
    for ref in refs:
        phases = {p for p in (TRAIN, TEST) if ref.in_phase(p)}
        source = train_source if TRAIN in phases else val_source
        if phases == {TRAIN, TEST}:
            plan.warnings.append(f"data layer '{ref.name}' serves both phases; it now reads {source}")
        _set_source(ref, source, plan)
        if mean_file is not None or mean_value is not None:
            _set_mean(ref, mean_file, mean_value, plan)
        else:
            _pin_kept_mean(ref, plan)


def _set_source(ref: LayerRef, source: str, plan: DataPlan) -> None:
    from tunewiz.data.db import detect_backend

    backend = detect_backend(source)
    if ref.type == "ImageData" and backend is None:
        if ref.msg.image_data_param.source != source:
            plan.changes.append(f"{ref.name} ({ref.phases()}): image_data_param.source -> {source}")
            ref.msg.image_data_param.source = source
        return
    if ref.type == "ImageData":
        _image_data_to_data(ref, plan)
    dp = ref.msg.data_param
    if dp.source != source:
        plan.changes.append(f"{ref.name} ({ref.phases()}): data_param.source {dp.source or '(none)'} -> {source}")
        dp.source = source
    if backend is not None:
        value = caffe_pb2.DataParameter.DB.Value(backend.upper())
        if dp.backend != value:
            plan.changes.append(f"{ref.name} ({ref.phases()}): backend -> {backend.upper()}")
        dp.backend = value


def _image_data_to_data(ref: LayerRef, plan: DataPlan) -> None:
    ip = ref.msg.image_data_param
    batch = ip.batch_size
    if ip.new_height or ip.new_width:
        plan.warnings.append(f"{ref.name}: ImageData resized to {ip.new_height}x{ip.new_width}; a database "
                             "is not resized when read — convert it at that size")
    ref.msg.ClearField("image_data_param")
    if ref.v1:
        ref.msg.type = caffe_pb2.V1LayerParameter.DATA
    else:
        ref.msg.type = "Data"
    ref.msg.data_param.batch_size = batch
    plan.changes.append(f"{ref.name} ({ref.phases()}): ImageData -> Data (reads a database now)")


def _pin_kept_mean(ref: LayerRef, plan: DataPlan) -> None:
    """The pretrained net's mean file, kept, named by its absolute path like every other input of the
    copy (a relative one would be looked for wherever training runs)."""
    tp = _transform(ref)
    if tp.mean_file and not os.path.isabs(tp.mean_file) and os.path.exists(tp.mean_file):
        plan.changes.append(f"{ref.name} ({ref.phases()}): mean_file {tp.mean_file} -> {os.path.abspath(tp.mean_file)} "
                            "(kept; named from anywhere)")
        tp.mean_file = os.path.abspath(tp.mean_file)


def _set_mean(ref: LayerRef, mean_file, mean_value, plan: DataPlan) -> None:
    tp = _transform(ref)
    tp.ClearField("mean_file")
    if hasattr(tp, "mean_value"):
        tp.ClearField("mean_value")
    if mean_file is not None:
        tp.mean_file = mean_file
        plan.changes.append(f"{ref.name} ({ref.phases()}): mean_file -> {mean_file}")
    else:
        tp.mean_value.extend(mean_value)
        plan.changes.append(f"{ref.name} ({ref.phases()}): mean_value -> {', '.join(f'{v:g}' for v in mean_value)}")


def net_input_shape(deploy) -> tuple[int, ...] | None:
    """N, C, H, W the deploy net was built for (Input layer, input_shape or input_dim)."""
    for r in layers_of(deploy):
        if r.type == "Input" and r.msg.input_param.shape:
            return tuple(r.msg.input_param.shape[0].dim)
    if deploy.input_shape:
        return tuple(deploy.input_shape[0].dim)
    if deploy.input_dim:
        return tuple(deploy.input_dim[:4])
    return None


def check_data(net, train: DBSummary, plan: DataPlan, deploy=None) -> None:
    """Crop size against the images and the deploy input; the preprocessing check."""
    ref = next((r for r in data_layers(net) if r.in_phase(TRAIN)), None)
    if ref is None:
        return
    tp = _transform(ref)
    crop = int(tp.crop_size)
    if crop and (train.height < crop or train.width < crop):
        raise RecipeError(f"layer '{ref.name}': crop_size {crop} is larger than the images in {train.path} "
                          f"({train.height}x{train.width}); convert them at least {crop}x{crop} "
                          f"(--resize_height/--resize_width) or lower crop_size")
    shape = net_input_shape(deploy) if deploy is not None else None
    if shape and len(shape) == 4:
        _check_input(ref, shape, crop, train, plan)
    _check_preprocessing(ref, tp, train, plan)


def _check_input(ref: LayerRef, shape, crop: int, train: DBSummary, plan: DataPlan) -> None:
    _, c, h, w = shape
    if c != train.channels and not train.encoded:
        raise RecipeError(f"{train.path} holds {train.channels}-channel images but the net takes {c} channels; "
                          f"convert again {'without' if c == 3 else 'with'} --gray")
    size = (crop, crop) if crop else (train.height, train.width)
    if (h, w) != size:
        how = f"crop_size {crop}" if crop else f"the {train.height}x{train.width} images"
        plan.warnings.append(f"the deploy net takes {h}x{w} inputs but training sees {size[0]}x{size[1]} "
                             f"({how}); layers after the convolutions may not fit — resize or crop to {h}x{w}")


def _check_preprocessing(ref: LayerRef, tp, train: DBSummary, plan: DataPlan) -> None:
    has_mean = bool(tp.mean_file) or bool(list(getattr(tp, "mean_value", [])))
    scale = tp.scale if tp.HasField("scale") else 1.0
    if train.float_data:
        plan.warnings.append(f"{train.path} stores float_data, not 0-255 bytes: check it was scaled like the "
                             "data the net was trained on")
    if has_mean and scale == 1.0:
        plan.warnings.append("the pretrained net expects BGR images with values 0-255 and the mean subtracted: "
                             "'tunewiz convert-imageset' (like Caffe's) writes BGR 0-255; data written by other "
                             "tools (RGB order, 0-1 floats) will look wrong to it")
        if train.mean_level <= 1.0 and not train.encoded:
            plan.warnings.append(f"{train.path}: the first image's mean level is {train.mean_level:.3f} — "
                                 "it looks like 0-1 data, but the net expects 0-255")
    if tp.mean_file and not os.path.exists(tp.mean_file):
        raise RecipeError(
            f"layer '{ref.name}' subtracts mean_file {tp.mean_file}, which is not here (Caffe reads it relative to "
            "the folder training runs in; Model Zoo nets name Caffe's own data/ilsvrc12/imagenet_mean.binaryproto, "
            "fetched by Caffe's data/ilsvrc12/get_ilsvrc_aux.sh). Give the pretrained net's mean with --mean-file "
            "PATH, or its per-channel values with --mean-value (104,117,123 for Caffe's ImageNet models), or "
            "choose the new data's mean (--mean-file of 'tunewiz compute-image-mean')")
    elif tp.mean_file and not train.encoded:
        _check_mean_size(ref, tp.mean_file, train)


def _check_mean_size(ref: LayerRef, path: str, train: DBSummary) -> None:
    """Caffe's DataTransformer CHECKs the mean's channels/height/width against every datum."""
    blob = caffe_pb2.BlobProto()
    try:
        with open(path, "rb") as f:
            blob.ParseFromString(f.read())
    except Exception:  # noqa: BLE001 - a broken file is reported by the data layer itself
        return
    dims = list(blob.shape.dim) if blob.HasField("shape") else [blob.num, blob.channels, blob.height, blob.width]
    chw = tuple(int(d) for d in dims[-3:])
    if len(chw) == 3 and chw != (train.channels, train.height, train.width):
        raise RecipeError(f"layer '{ref.name}': mean_file {path} is {chw[0]}x{chw[1]}x{chw[2]} but the images in "
                          f"{train.path} are {train.channels}x{train.height}x{train.width}; Caffe stops on that "
                          "(data_mean_.height() check) — make a new mean with 'tunewiz compute-image-mean' on the "
                          "new database, or use --mean-value")
