"""Whether training a net can change anything: a loss, fed by at least one parameter that learns.

Caffe trains any net it is given: a deploy file (no loss) "trains" with ``loss = 0`` and snapshots
the weights unchanged; a net whose every parameter upstream of the loss has ``lr_mult: 0`` does the
same with a real loss.  A newcomer then believes the fine-tune worked.  :func:`check_can_learn` is
called before training (``tunewiz train``, ``tunewiz finetune``, the wizard's Start) and says why
and what to do instead.
"""
from __future__ import annotations

from tunewiz.errors import TunewizError


class NothingToLearn(TunewizError):
    """The TRAIN net has no loss, or no parameter that learns feeds one."""


def _upstream(net, loss_layers: list[int]) -> list[int]:
    """Positions of the layers whose outputs reach one of ``loss_layers`` (those included)."""
    needed, found = set(), []
    for i in range(len(net.wirings) - 1, -1, -1):
        w = net.wirings[i]
        if i in loss_layers or needed & set(w.tops):
            found.append(i)
            needed |= set(w.bottoms)
    return found


def check_can_learn(net, where: str = "the TRAIN net") -> None:
    """Raise :class:`NothingToLearn` when training ``net`` (an engine Net) would leave every weight as it is."""
    losses = [i for i, w in enumerate(net.wirings) if any(w.loss_weights)]
    if not losses:
        raise NothingToLearn(
            f"{where} has no loss layer (no *Loss layer, no loss_weight), so training would change nothing — "
            "is it a deploy file? Give the train_val prototxt, or add a SoftmaxWithLoss layer after the "
            "classifier, reading it and the label")
    lr_of = {id(info.param): info.lr_mult for info in net.learnable_params()}
    upstream = _upstream(net, losses)
    learners = [net.wirings[i].name for i in upstream
                if any(lr_of.get(id(b), 0) != 0 for b in net.layers[i].blobs)]
    if learners:
        return
    names = ", ".join(net.wirings[i].name for i in losses)
    with_params = [net.wirings[i].name for i in upstream if len(net.layers[i].blobs)]
    if with_params:
        why = f"every layer with parameters before it ({', '.join(with_params[:6])}) has lr_mult 0"
        fix = "unfreeze at least the last of them (lr_mult > 0; tunewiz finetune --freeze-through a lower layer)"
    else:
        why = "no layer with parameters feeds it"
        fix = "check that the classifier's output, not the data, goes into the loss"
    raise NothingToLearn(f"{where}: the loss {names} depends on nothing that learns: {why}, so training would "
                         f"change nothing; {fix}")
