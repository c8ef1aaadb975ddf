"""Other losses (EuclideanLoss, SigmoidCrossEntropyLoss, HingeLoss, ContrastiveLoss) and
Accuracy (forward only, not a loss).  Loss tops are 0-d and hold the raw loss; loss_weight
only scales the gradient."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tunewiz.caffe import caffe_pb2
from tunewiz.engine.layers.loss_softmax import normalization_mode, normalizer, per_sample_label_setup
from tunewiz.engine.layers.base import Layer, register

N = caffe_pb2.LossParameter


def _same_count(layer: Layer, bottom_shapes) -> None:
    a, b = bottom_shapes[0], bottom_shapes[1]
    if math.prod(a) != math.prod(b):
        raise layer.fail(f"both bottoms must have the same count, got {list(a)} and {list(b)}")


@register("EuclideanLoss")
class EuclideanLoss(Layer):
    """``loss = sum((a - b)^2) / (2N)``; Backward ``da = (a - b) / N``, ``db = -(a - b) / N``
    (times loss_weight): both bottoms get a gradient."""

    is_loss = True

    def allow_force_backward(self, bottom_index: int) -> bool:
        return True

    def setup(self, bottom_shapes):
        _same_count(self, bottom_shapes)
        return [()]

    def forward(self, a, b):
        d = a - b.reshape(a.shape)
        num = a.shape[0] if a.dim() else 1  # each pass's N, as Caffe's num(): a Filter above may change it
        return ((d * d).sum() / (2.0 * num),)


@register("SigmoidCrossEntropyLoss")
class SigmoidCrossEntropyLoss(Layer):
    """``loss = -sum_{non-ignored} [x*(t - (x >= 0)) - log(1 + exp(x - 2x*(x >= 0)))] / normalizer``,
    normalization default BATCH_SIZE (N = shape[0]); VALID counts non-ignored elements.
    Backward ``dx = (sigmoid(x) - t) * loss_weight / normalizer``, 0 where ignored."""

    is_loss = True

    def setup(self, bottom_shapes):
        _same_count(self, bottom_shapes)
        shape = bottom_shapes[0]
        lp = self.param.loss_param
        self.mode = normalization_mode(lp, N.BATCH_SIZE)
        self.ignore_label = int(lp.ignore_label) if lp.HasField("ignore_label") else None
        self.outer = shape[0] if shape else 1
        self.inner = math.prod(shape) // max(1, self.outer)
        return [()]

    def forward(self, x, target):
        t = target.detach().reshape(x.shape).to(x.dtype)
        per = F.binary_cross_entropy_with_logits(x, t, reduction="none")
        valid = None
        if self.ignore_label is not None:
            valid = t.long() != self.ignore_label
            per = torch.where(valid, per, torch.zeros_like(per))
        elif self.mode == N.VALID:
            valid = torch.ones_like(t, dtype=torch.bool)
        return (per.sum() / normalizer(self.mode, self.outer, self.inner, valid),)


@register("HingeLoss")
class HingeLoss(Layer):
    """With ``s = +1`` at the label and ``-1`` elsewhere, ``m = max(0, 1 - s*x)``:
    L1 ``loss = sum m / N``, L2 ``loss = sum m^2 / N``.
    Backward L1 ``dx = -s * (m > 0) / N``, L2 ``dx = -2 s m / N`` (times loss_weight)."""

    is_loss = True

    def setup(self, bottom_shapes):
        per_sample_label_setup(self, bottom_shapes)
        self.l2 = self.param.hinge_loss_param.norm == caffe_pb2.HingeLossParameter.L2
        return [()]

    def forward(self, x, label):
        x = x.reshape(self.num, self.dim)
        lab = label.detach().reshape(self.num, 1).long()
        if lab.device.type != "meta" and bool(((lab < 0) | (lab >= self.dim)).any()):
            raise self.fail(f"labels must be in [0, {self.dim})")
        sign = torch.full_like(x.detach(), -1.0).scatter_(1, lab, 1.0)
        m = torch.relu(1.0 - sign * x)
        return ((m * m if self.l2 else m).sum() / float(self.num),)


class _ContrastiveFunction(torch.autograd.Function):
    """Caffe's forward and Backward, including its ``dist + 1e-4`` in the dissimilar gradient."""

    @staticmethod
    def forward(ctx, a, b, y, margin, legacy):
        num = a.shape[0]
        diff = (a - b).reshape(num, -1)
        dist_sq = (diff * diff).sum(1)
        similar = y.reshape(num).long() != 0
        if legacy:
            mdist = margin - dist_sq
            dissimilar = torch.clamp(mdist, min=0.0)
            coef = -(mdist > 0).to(a.dtype)
        else:
            dist = torch.sqrt(dist_sq)
            mdist = margin - dist
            dissimilar = torch.clamp(mdist, min=0.0) ** 2
            coef = torch.where(mdist > 0, -mdist / (dist + 1e-4), torch.zeros_like(mdist))
        coef = torch.where(similar, torch.ones_like(coef), coef)
        ctx.save_for_backward(diff, coef)
        ctx.shape = a.shape
        return torch.where(similar, dist_sq, dissimilar).sum() / (2.0 * num)

    @staticmethod
    def backward(ctx, g):
        diff, coef = ctx.saved_tensors
        ga = (g / diff.shape[0]) * coef.unsqueeze(1) * diff
        ga = ga.reshape(ctx.shape)
        return ga, -ga, None, None, None


@register("ContrastiveLoss")
class ContrastiveLoss(Layer):
    """``loss = 1/(2N) sum_n [y d^2 + (1-y) max(margin - d, 0)^2]``, ``d = ||a - b||``;
    ``legacy_version`` uses ``max(margin - d^2, 0)``.  Backward on a (b gets the negative):
    similar ``(a-b)/N``; dissimilar ``-(margin-d)/(d + 1e-4) * (a-b)/N`` when ``margin > d``
    (legacy: ``-(a-b)/N`` when ``margin > d^2``).  The similarity label gets no gradient."""

    is_loss = True

    def allow_force_backward(self, bottom_index: int) -> bool:
        return bottom_index != 2

    def setup(self, bottom_shapes):
        if len(bottom_shapes) != 3:
            raise self.fail("needs 3 bottoms: a, b and the similarity label")
        _same_count(self, bottom_shapes)
        if math.prod(bottom_shapes[2]) != bottom_shapes[0][0]:
            raise self.fail(f"needs one similarity label per sample, got shape {list(bottom_shapes[2])}")
        p = self.param.contrastive_loss_param
        self.margin, self.legacy = float(p.margin), bool(p.legacy_version)
        return [()]

    def forward(self, a, b, y):
        return (_ContrastiveFunction.apply(a, b.reshape(a.shape), y.detach(), self.margin, self.legacy),)


@register("Accuracy")
class Accuracy(Layer):
    """A sample is correct when fewer than ``top_k`` classes score ``>=`` the true class
    (ties count against it); ``accuracy = correct / non-ignored count`` (0 if none).
    Optional 2nd top: per-class accuracy (0 for a class with no samples).  Forward only."""

    def allow_force_backward(self, bottom_index: int) -> bool:
        return False  # forward only: Caffe has no Backward for it

    def setup(self, bottom_shapes):
        p = self.param.accuracy_param
        shape, label_shape = bottom_shapes[0], bottom_shapes[1]
        self.axis = self.canonical_axis(p.axis, len(shape))
        self.outer, self.classes = math.prod(shape[:self.axis]), shape[self.axis]
        self.inner = math.prod(shape[self.axis + 1:])
        self.top_k = int(p.top_k)
        if self.top_k > self.classes:
            raise self.fail(f"top_k {self.top_k} is more than the {self.classes} classes")
        if math.prod(label_shape) != self.outer * self.inner:
            raise self.fail(f"label count {math.prod(label_shape)} must match the number of predictions "
                            f"{self.outer * self.inner}")
        self.ignore_label = int(p.ignore_label) if p.HasField("ignore_label") else None
        return [()] + ([(self.classes,)] if len(self.param.top) > 1 else [])

    def forward(self, x, label):
        x = x.detach().reshape(self.outer, self.classes, self.inner)
        lab = label.detach().reshape(self.outer, self.inner).long()
        valid = torch.ones_like(lab, dtype=torch.bool) if self.ignore_label is None else lab != self.ignore_label
        lab = torch.where(valid, lab, torch.zeros_like(lab))
        true_score = x.gather(1, lab.unsqueeze(1))
        correct = ((x >= true_score).sum(1) - 1 < self.top_k) & valid
        count = valid.sum().to(x.dtype)
        acc = torch.where(count > 0, correct.sum().to(x.dtype) / count.clamp(min=1), torch.zeros_like(count))
        if len(self.top_shapes) == 1:
            return (acc,)
        nums = torch.zeros(self.classes, dtype=x.dtype, device=x.device).index_add_(
            0, lab[valid], torch.ones_like(lab[valid], dtype=x.dtype))
        hits = torch.zeros_like(nums).index_add_(0, lab[correct], torch.ones_like(lab[correct], dtype=x.dtype))
        return acc, torch.where(nums > 0, hits / nums.clamp(min=1), torch.zeros_like(nums))
