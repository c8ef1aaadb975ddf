"""Caffe's NetState rules: which layers a net keeps for a phase, level and stages.

``Net::FilterNet`` keeps a layer when

* it has no ``include`` rules and no ``exclude`` rule is met, or
* it has ``include`` rules and at least one of them is met
  (a layer may not have both kinds: "Specify either include rules or exclude rules; not both.").

``Net::StateMeetsRule(state, rule)`` is true unless
``rule.phase`` is set and differs from ``state.phase``, or ``state.level < rule.min_level``
(when set), or ``state.level > rule.max_level`` (when set), or a ``rule.stage`` is missing
from ``state.stage``, or a ``rule.not_stage`` is in ``state.stage``.

The state comes from the net's own ``state { }`` with the phase set, the level set and
the stages appended, as ``Net(param_file, phase, level, stages)`` does.
"""
from __future__ import annotations

from typing import Iterable

from tunewiz.caffe import caffe_pb2
from tunewiz.errors import TunewizError

PHASES = {"TRAIN": caffe_pb2.TRAIN, "TEST": caffe_pb2.TEST}


def phase_value(phase: int | str) -> int:
    """TRAIN/TEST by name (any case) or enum value."""
    if isinstance(phase, str):
        try:
            return PHASES[phase.upper()]
        except KeyError:
            raise TunewizError(f"unknown phase '{phase}'; use TRAIN or TEST") from None
    return int(phase)


def make_state(net_param: caffe_pb2.NetParameter, phase: int | str, level: int = 0,
               stages: Iterable[str] = ()) -> caffe_pb2.NetState:
    """The NetState a Net(net_param, phase, level, stages) filters with."""
    state = caffe_pb2.NetState()
    state.CopyFrom(net_param.state)
    state.phase = phase_value(phase)
    state.level = int(level)
    state.stage.extend(stages)
    return state


def state_meets_rule(state: caffe_pb2.NetState, rule: caffe_pb2.NetStateRule) -> bool:
    """Caffe's StateMeetsRule, field by field."""
    if rule.HasField("phase") and rule.phase != state.phase:
        return False
    if rule.HasField("min_level") and state.level < rule.min_level:
        return False
    if rule.HasField("max_level") and state.level > rule.max_level:
        return False
    stages = set(state.stage)
    if any(stage not in stages for stage in rule.stage):
        return False
    if any(stage in stages for stage in rule.not_stage):
        return False
    return True


def layer_included(layer: caffe_pb2.LayerParameter, state: caffe_pb2.NetState) -> bool:
    """Whether FilterNet keeps ``layer`` under ``state``."""
    if len(layer.include) and len(layer.exclude):
        raise TunewizError(
            f"layer '{layer.name}' has both include and exclude rules; "
            "Caffe needs one kind only (Specify either include rules or exclude rules; not both.)")
    included = len(layer.include) == 0
    if any(state_meets_rule(state, rule) for rule in layer.exclude):
        included = False
    if any(state_meets_rule(state, rule) for rule in layer.include):
        included = True
    return included


def filter_net(net_param: caffe_pb2.NetParameter, state: caffe_pb2.NetState) -> caffe_pb2.NetParameter:
    """A copy of ``net_param`` holding only the layers ``state`` keeps (Caffe's FilterNet)."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net_param)
    del out.layer[:]
    for layer in net_param.layer:
        if layer_included(layer, state):
            out.layer.add().CopyFrom(layer)
    out.state.CopyFrom(state)
    return out
