"""A bottom no layer of the phase makes, found before the net is built: said with the phase, the file and the fix.

Caffe stops such a net with ``Unknown bottom blob 'data' (layer 'conv1', bottom index 0)``; the usual cause
is a phase that has no data layer (a train_val whose data layers are all ``include { phase: TRAIN }``,
given to a solver with ``test_iter``, or to ``tunewiz test``), or a layer whose include/exclude rules leave
it out of this phase.  :func:`check_phase` walks the layers the NetState keeps (Caffe's ``FilterNet``,
:mod:`tunewiz.engine.net.state`) in order and names the first bottom nobody made: the layer, the phase, the
file, the layer of another phase that makes it and what to change.
"""
from __future__ import annotations

import difflib

from tunewiz.caffe import caffe_pb2
from tunewiz.caffe.upgrade import upgraded_copy
from tunewiz.errors import TunewizError

_DATA = ("Data", "ImageData", "Input", "DummyData", "HDF5Data", "MemoryData", "WindowData")


class PhaseError(TunewizError):
    """A layer of one phase reads a blob that no earlier layer of that phase makes."""


def _phase(value: int) -> str:
    return "TRAIN" if value == caffe_pb2.TRAIN else "TEST"


def _rule(rule: caffe_pb2.NetStateRule) -> str:
    parts = [f"phase: {_phase(rule.phase)}"] if rule.HasField("phase") else []
    parts += [f"stage: \"{s}\"" for s in rule.stage] + [f"not_stage: \"{s}\"" for s in rule.not_stage]
    parts += [f"{f}: {getattr(rule, f)}" for f in ("min_level", "max_level") if rule.HasField(f)]
    return "{ " + " ".join(parts) + " }"


def _rules(lp: caffe_pb2.LayerParameter) -> str:
    if len(lp.include):
        return "include " + " or ".join(_rule(r) for r in lp.include)
    return "exclude " + " or ".join(_rule(r) for r in lp.exclude)


def check_phase(net_param: caffe_pb2.NetParameter, where: str, fix: str = "") -> None:
    """Raise :class:`PhaseError` for the first bottom that no earlier layer of ``net_param.state``'s phase
    makes.  ``where``: the net's file (or what it is in the solver); ``fix``: the caller's other way out
    (e.g. "remove test_iter"), added to the message's fix."""
    from tunewiz.engine.net.net import prepare

    st = net_param.state
    try:
        whole, _ = upgraded_copy(net_param)
        kept = prepare(net_param, st.phase, st.level)
    except Exception:  # noqa: BLE001 - a net that cannot even be filtered: the build says why
        return
    phase = _phase(kept.state.phase)
    made: list[str] = []
    for lp in kept.layer:
        for index, bottom in enumerate(lp.bottom):
            if bottom not in made:
                raise PhaseError(f"{where}: in the {phase} phase, layer '{lp.name}' ({lp.type}) reads bottom "
                                 f"'{bottom}', which no earlier layer of the {phase} phase makes (Caffe: Unknown "
                                 f"bottom blob '{bottom}' (layer '{lp.name}', bottom index {index})). "
                                 + _fix(whole, kept, lp, bottom, made, phase, fix))
        made.extend(t for t in lp.top if t not in made)


def _fix(whole, kept, reader, bottom: str, made: list[str], phase: str, fix: str) -> str:
    from tunewiz.engine.net.state import layer_included

    other = f"; or {fix}" if fix else ""
    makers = [lp for lp in whole.layer if bottom in lp.top and not layer_included(lp, kept.state)]
    data = [lp for lp in kept.layer if lp.type in _DATA]
    if makers:
        maker = makers[0]
        said = f"'{bottom}' is made by layer '{maker.name}' ({maker.type}), which has {_rules(maker)}. "
        if maker.type in _DATA and not data:
            return (said + f"The net has no data layer for the {phase} phase. Fix: add one with include {{ phase: "
                           f"{phase} }} that makes '{bottom}' (a copy of '{maker.name}' reading the "
                           f"{'validation' if phase == 'TEST' else 'training'} data){other}.")
        if maker.type in _DATA:
            tops = ", ".join(f"'{t}'" for t in data[0].top)
            return (said + f"The {phase} data layer '{data[0].name}' makes {tops}. Fix: name its tops as "
                           f"'{maker.name}' does ({', '.join(repr(t) for t in maker.top)}){other}.")
        return (said + f"Fix: let it run in the {phase} phase too (change its rules), or leave '{reader.name}' out "
                       f"of the {phase} phase as well{other}.")
    close = difflib.get_close_matches(bottom, made, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    if not data:
        hint += f"The net has no data layer for the {phase} phase. "
    return f"No layer of any phase makes '{bottom}': {hint}Fix: correct the bottom or the top names{other}."
