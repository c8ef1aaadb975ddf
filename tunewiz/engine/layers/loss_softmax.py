"""Softmax-family losses: SoftmaxWithLoss, InfogainLoss, MultinomialLogisticLoss.

Loss tops are 0-d.  The top holds the raw loss: ``loss_weight`` does not change it, it only
scales the gradient (the net multiplies the loss by its weight before backward).
The ``normalizer`` (Caffe's ``get_normalizer``, always ``max(1, .)``): FULL = outer*inner,
VALID = number of non-ignored labels (outer*inner without ignore_label), BATCH_SIZE = outer,
NONE = 1; the legacy ``normalize: true/false`` means VALID/BATCH_SIZE.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.layers.kernels import caffe_cpu
from tunewiz.engine.layers.base import Layer, register

N = caffe_pb2.LossParameter
LOG_FLT_MIN = math.log(np.finfo(np.float32).tiny)  # SoftmaxWithLoss: log(max(p, FLT_MIN))
LOG_THRESHOLD = math.log(1e-20)  # kLOG_THRESHOLD of Infogain / MultinomialLogistic


def normalization_mode(loss_param, default: int = N.VALID) -> int:
    """The NormalizationMode in force (the legacy ``normalize`` when ``normalization`` is unset)."""
    if loss_param.HasField("normalization"):
        return loss_param.normalization
    if loss_param.HasField("normalize"):
        return N.VALID if loss_param.normalize else N.BATCH_SIZE
    return default


def normalizer(mode: int, outer: int, inner: int, valid: torch.Tensor | None) -> torch.Tensor | float:
    """Caffe's ``get_normalizer``: ``max(1, FULL|VALID|BATCH_SIZE|NONE count)``."""
    if mode == N.VALID and valid is not None:
        return valid.sum().to(torch.float32).clamp(min=1.0)
    count = {N.FULL: outer * inner, N.VALID: outer * inner, N.BATCH_SIZE: outer, N.NONE: 1}[mode]
    return float(max(1, count))


def clamped_log(logp: torch.Tensor, floor: float) -> torch.Tensor:
    """``max(logp, floor)`` in value, with the gradient of ``logp`` (Caffe clamps only the forward)."""
    return logp + (logp.detach().clamp(min=floor) - logp.detach())


class _LabelledLoss(Layer):
    """Bottom 0 scores with classes on ``axis``, bottom 1 one label per other position."""

    is_loss = True
    default_mode = N.VALID

    def setup_labels(self, bottom_shapes, axis: int) -> None:
        shape, label_shape = bottom_shapes[0], bottom_shapes[1]
        self.axis = self.canonical_axis(axis, len(shape))
        self.outer, self.classes = math.prod(shape[:self.axis]), shape[self.axis]
        self.inner = math.prod(shape[self.axis + 1:])
        if math.prod(label_shape) != self.outer * self.inner:
            raise self.fail(f"label count {math.prod(label_shape)} must match the number of predictions "
                            f"{self.outer * self.inner} (bottom {list(shape)} with classes on axis {self.axis})")
        lp = self.param.loss_param
        self.ignore_label = int(lp.ignore_label) if lp.HasField("ignore_label") else None
        self.mode = normalization_mode(lp, self.default_mode)

    def labels(self, label: torch.Tensor):
        """(labels as (outer, inner) longs with ignored ones set to 0, valid mask or None)."""
        lab = label.detach().reshape(self.outer, self.inner).long()
        valid = None if self.ignore_label is None else lab != self.ignore_label
        if valid is not None:
            lab = torch.where(valid, lab, torch.zeros_like(lab))
        if lab.device.type != "meta" and lab.numel() and bool(((lab < 0) | (lab >= self.classes)).any()):
            raise self.fail(f"labels must be in [0, {self.classes}) (or the ignore_label), got "
                            f"{sorted(set(label.detach().flatten().tolist()))[:8]}")
        return lab, valid

    def softmax_tops(self, bottom_shapes):
        if len(self.param.top) > 2:
            raise self.fail("has at most 2 tops: the loss and the softmax probabilities")
        return [()] + ([tuple(bottom_shapes[0])] if len(self.param.top) == 2 else [])

    def finish(self, total: torch.Tensor, valid, x: torch.Tensor):
        loss = total / normalizer(self.mode, self.outer, self.inner, valid)
        if len(self.top_shapes) == 2:
            return loss, torch.softmax(x.detach(), dim=self.axis)
        return (loss,)


@register("SoftmaxWithLoss")
class SoftmaxWithLoss(_LabelledLoss):
    """``loss = -sum_{non-ignored} log(max(p[label], FLT_MIN)) / normalizer`` with ``p`` the
    softmax over ``softmax_param.axis``.  Backward: ``dx = (p - onehot(label)) * loss_weight /
    normalizer``, 0 at ignored positions.  Optional 2nd top: ``p`` (no gradient)."""

    def setup(self, bottom_shapes):
        if len(bottom_shapes) != 2:
            raise self.fail("needs 2 bottoms: scores and labels")
        self.setup_labels(bottom_shapes, self.param.softmax_param.axis)
        return self.softmax_tops(bottom_shapes)

    def forward(self, x, label):
        lab, valid = self.labels(label)
        logp = torch.log_softmax(x, dim=self.axis).reshape(self.outer, self.classes, self.inner)
        picked = clamped_log(logp.gather(1, lab.unsqueeze(1)).squeeze(1), LOG_FLT_MIN)
        if valid is not None:
            picked = torch.where(valid, picked, torch.zeros_like(picked))
        return self.finish(-picked.sum(), valid, x)

    def caffe_cpu_forward(self):
        """Caffe's order (sum sample by sample) for one top, classes on axis 1 with nothing after them,
        no ignore_label."""
        if len(self.top_shapes) != 1 or self.ignore_label is not None or self.axis != 1 or self.inner != 1:
            return None
        return self._forward_caffe_cpu

    def _forward_caffe_cpu(self, x, label):
        loss = caffe_cpu.softmax_loss(x, label, normalizer(self.mode, self.outer, self.inner, None))
        return (loss.reshape(self.top_shapes[0]),)


@register("InfogainLoss")
class InfogainLoss(_LabelledLoss):
    """This master takes LOGITS: ``p = softmax(x)`` along ``infogain_loss_param.axis``,
    ``loss = -sum_n sum_k H[label_n, k] * log(max(p_nk, 1e-20)) / normalizer``.
    H (classes x classes) is ``infogain_loss_param.source`` (a binaryproto) or bottom 2 (no
    gradient).  Backward: ``dx_k = (p_k * sum_j H[label, j] - H[label, k]) * loss_weight / normalizer``."""

    def allow_force_backward(self, bottom_index: int) -> bool:
        return bottom_index == 0  # Caffe cannot back-propagate to the labels or H

    def setup(self, bottom_shapes):
        if len(bottom_shapes) not in (2, 3):
            raise self.fail("needs 2 bottoms (scores, labels) and the matrix H as a 3rd bottom or "
                            "infogain_loss_param.source")
        p = self.param.infogain_loss_param
        self.setup_labels(bottom_shapes, p.axis)
        if len(bottom_shapes) == 3:
            if math.prod(bottom_shapes[2]) != self.classes ** 2:
                raise self.fail(f"bottom H must hold {self.classes}x{self.classes} values, got {list(bottom_shapes[2])}")
            self.register_buffer("H", None, persistent=False)
        else:
            self.register_buffer("H", self._read_source(p.source), persistent=False)
        return self.softmax_tops(bottom_shapes)

    def _read_source(self, source: str) -> torch.Tensor:
        if not source:
            raise self.fail("needs infogain_loss_param.source (a .binaryproto with H) or H as a 3rd bottom")
        try:
            blob = caffe_pb2.BlobProto.FromString(Path(source).read_bytes())
        except (OSError, Exception) as exc:  # noqa: BLE001 - any reason: one clear message
            raise self.fail(f"cannot read infogain_loss_param.source '{source}': {exc}") from None
        values = np.asarray(blob.data or blob.double_data, dtype=np.float32)
        if values.size != self.classes ** 2:
            raise self.fail(f"'{source}' holds {values.size} values; H must be {self.classes}x{self.classes}")
        return torch.from_numpy(values.reshape(self.classes, self.classes)).to(self.device)

    def forward(self, x, label, H=None):
        H = (self.H if H is None else H).detach().reshape(self.classes, self.classes).to(x.dtype)
        lab, valid = self.labels(label)
        logp = torch.log_softmax(x, dim=self.axis).reshape(self.outer, self.classes, self.inner)
        rows = H[lab].permute(0, 2, 1)  # (outer, classes, inner): H[label, k]
        if valid is not None:
            rows = rows * valid.unsqueeze(1).to(rows.dtype)
        total = -(rows * clamped_log(logp, LOG_THRESHOLD)).sum()
        return self.finish(total, valid, x)


def per_sample_label_setup(layer: Layer, bottom_shapes) -> None:
    """Losses over (N, ...) scores with one label per sample: sets ``num`` = N and ``dim`` = the rest."""
    shape, label_shape = bottom_shapes
    layer.num, layer.dim = shape[0], math.prod(shape[1:])
    if math.prod(label_shape) != layer.num:
        raise layer.fail(f"needs one label per sample ({layer.num}), got shape {list(label_shape)}")


@register("MultinomialLogisticLoss")
class MultinomialLogisticLoss(Layer):
    """Takes probabilities: ``loss = -sum_n log(max(p[n, label_n], 1e-20)) / N``;
    Backward ``dp[n, label_n] = -loss_weight / (N * max(p, 1e-20))``."""

    is_loss = True

    def setup(self, bottom_shapes):
        per_sample_label_setup(self, bottom_shapes)
        return [()]

    def forward(self, p, label):
        lab = label.detach().reshape(self.num, 1).long()
        if lab.device.type != "meta" and bool(((lab < 0) | (lab >= self.dim)).any()):
            raise self.fail(f"labels must be in [0, {self.dim})")
        picked = p.reshape(self.num, self.dim).gather(1, lab)
        floor = math.exp(LOG_THRESHOLD)
        picked = picked + (picked.detach().clamp(min=floor) - picked.detach())
        return (-torch.log(picked).sum() / float(self.num),)
