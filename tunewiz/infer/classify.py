"""Classify image files with a deploy net: batches through the TEST net, top-k per image.

As Caffe's ``examples/cpp_classification/classification.cpp``: the net has one Input (1 or 3 channels);
the scores are its first output blob (outputs sorted by name, as Caffe's ``output_blobs()``), one value
per class; the top k are printed highest first.  Beyond it: images go through in batches (the Input's
first dimension becomes the batch), on the CPU or a CUDA device; an output that no Softmax layer makes
is turned into probabilities here (``notes`` says so once); with ``oversample`` the ten crops' probabilities
are averaged as pycaffe's ``Classifier.predict`` does.  :meth:`ImageClassifier.classify` is a generator of
typed results in the order of the images given, an unreadable image included (:class:`Unreadable`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from tunewiz.errors import TunewizError
from tunewiz.infer.preprocess import ImageError, Preprocessor, Settings


@dataclass(frozen=True)
class Item:
    """An image to classify, with its true class when a list gives one."""

    path: str
    truth: int | None = None


@dataclass(frozen=True)
class Prediction:
    """One of an image's top k: the class index, its label (None without labels) and its probability."""

    index: int
    label: str | None
    probability: float

    @property
    def name(self) -> str:
        """What is printed between the quotes: the label, or the class index without labels."""
        return self.label if self.label is not None else str(self.index)


@dataclass(frozen=True)
class Classified:
    """An image's top k, highest first."""

    path: str
    predictions: tuple[Prediction, ...]
    truth: int | None = None


@dataclass(frozen=True)
class Unreadable:
    """An image that could not be read or made into the net's input (``message`` names it)."""

    path: str
    message: str
    truth: int | None = None


class ImageClassifier:
    """A deploy net with its weights, preprocessing and labels, ready to classify image files."""

    def __init__(self, model: str, weights: str, settings: Settings, labels: list[str] | None = None,
                 device="cpu", numerics: str = "torch", batch_size: int = 16):
        from tunewiz.engine.net.weights import split_paths

        if batch_size < 1:
            raise TunewizError(f"--batch-size {batch_size}: give 1 or more images per batch")
        for path in split_paths(weights):
            if not os.path.isfile(path):
                raise TunewizError(f"--weights {path}: no such file")
        self.model, self.batch_size, self.device = model, batch_size, device
        self.notes: list[str] = []
        net_param, shape = self._net_param(model, batch_size * (10 if settings.oversample else 1))
        self.preprocess = Preprocessor(settings, shape[1:], self.input_name)
        self.net = self._build(net_param, numerics, weights)
        self.output_name, self.classes, self.softmax_added = self._output()
        if labels is not None and len(labels) != self.classes:
            raise TunewizError(f"--labels: {len(labels)} labels, but the output '{self.output_name}' has "
                               f"{self.classes} classes (classification.cpp: Number of labels is different from "
                               "the output layer dimension); give this net's labels.txt")
        self.labels = labels

    def _net_param(self, model: str, batch: int):
        """The TEST net with its one Input's first dimension set to the batch."""
        from tunewiz.caffe.netio import read_net
        from tunewiz.engine.net.net import prepare

        net_param = prepare(read_net(model), "TEST")
        inputs = [(lp, top) for lp in net_param.layer if lp.type == "Input" for top in lp.top]
        if len(inputs) != 1:
            names = ", ".join(top for _, top in inputs) or "none"
            raise TunewizError(f"{model}: classify takes a deploy net with exactly one Input (this one has "
                               f"{names}; classification.cpp: Network should have exactly one input)")
        layer, self.input_name = inputs[0]
        if len(layer.input_param.shape) != 1 or len(layer.input_param.shape[0].dim) != 4:
            raise TunewizError(f"{model}: the Input '{self.input_name}' needs one 4-D shape (N, C, H, W) "
                               "for images")
        dims = layer.input_param.shape[0].dim
        dims[0] = batch
        return net_param, tuple(int(d) for d in dims)

    def _build(self, net_param, numerics: str, weights: str):
        from tunewiz.engine.checks.memcheck import check_inference, guard
        from tunewiz.engine.net.net import Net
        from tunewiz.engine.net.weights import copy_trained_layers

        # before anything is allocated: a batch that cannot fit is one line with one that does
        check_inference(net_param, self.device, command="forward", where=self.model)
        with guard(f"while building the net of {self.model}", self.device):
            net = Net(net_param, "TEST", device=self.device, numerics=numerics)
        report = copy_trained_layers(net, weights)
        if report.new:
            self.notes.append(f"warning: {weights} has no weights for layer(s) {', '.join(report.new)}: they keep "
                              "their fillers, so the predictions are not a trained net's")
        return net

    def _output(self) -> tuple[str, int, bool]:
        """(the output blob, its classes, whether softmax is applied here)."""
        outputs = self.net.output_names
        if not outputs:
            raise TunewizError(f"{self.model}: the net has no output blob")
        name = outputs[0]
        if len(outputs) > 1:
            self.notes.append(f"note: the net has outputs {', '.join(outputs)}; classifying with '{name}', the "
                              "first (as classification.cpp)")
        shape = self.net.blob_shapes[name]
        if len(shape) < 2 or int(np.prod(shape[2:], dtype=np.int64)) != 1:
            raise TunewizError(f"{self.model}: the output '{name}' is {'x'.join(map(str, shape[1:]))} per image, "
                               "not one score per class; classify takes a classification net")
        maker = [w for w in self.net.wirings if name in w.tops][-1]
        softmax = maker.type != "Softmax"
        if softmax:
            self.notes.append(f"note: the output '{name}' comes from the {maker.type} layer '{maker.name}', not a "
                              f"Softmax: the probabilities shown are softmax({name}), computed here")
        return name, int(shape[1]), softmax

    def classify(self, items: Iterable[Item], top_k: int = 5) -> Iterator[Classified | Unreadable]:
        """Each item's result, in the order given; the net runs once per ``batch_size`` readable images."""
        pending: list[tuple[Item, np.ndarray | str]] = []
        readable = 0
        for item in items:
            try:
                pending.append((item, self.preprocess(item.path)))
                readable += 1
            except ImageError as exc:
                pending.append((item, str(exc)))
            if readable == self.batch_size:
                yield from self._flush(pending, top_k)
                pending, readable = [], 0
        yield from self._flush(pending, top_k)

    def _flush(self, pending, top_k: int) -> Iterator[Classified | Unreadable]:
        arrays = [value for _, value in pending if not isinstance(value, str)]
        rows = iter(self.probabilities(np.concatenate(arrays)) if arrays else ())
        for item, value in pending:
            if isinstance(value, str):
                yield Unreadable(item.path, value, item.truth)
            else:
                yield Classified(item.path, self._top(next(rows), top_k), item.truth)

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """(images x classes) float32 probabilities of ``inputs`` ((images x crops) x C x H x W)."""
        import torch

        from tunewiz.data.pycaffe_images import average_crops
        from tunewiz.engine.checks.memcheck import guard
        from tunewiz.engine.inference import infer

        with torch.no_grad(), guard(f"while running the net of {self.model}", self.device):
            blobs = infer(self.net, {self.input_name: torch.from_numpy(inputs).to(self.device)})
            scores = blobs[self.output_name].reshape(len(inputs), self.classes)
            if self.softmax_added:
                scores = torch.softmax(scores, dim=1)
            scores = scores.float().cpu().numpy()
        return average_crops(scores, self.preprocess.crops == 10)

    def _top(self, row: np.ndarray, top_k: int) -> tuple[Prediction, ...]:
        order = np.argsort(-row, kind="stable")[:max(0, min(top_k, self.classes))]
        return tuple(Prediction(int(i), self.labels[i] if self.labels is not None else None, float(row[i]))
                     for i in order)

    def close(self) -> None:
        self.net.close()
