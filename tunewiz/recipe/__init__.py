"""The article's edits (steps 3-5) as pure functions over protobuf messages, staged over one contract.

For scripts::

    from tunewiz.recipe import FinetuneOptions, plan_finetune, write
    opts = FinetuneOptions(net="train_val.prototxt", solver="solver.prototxt", weights="w.caffemodel",
                           train_db="train_lmdb", val_db="val_lmdb", out="runs/mine", max_iter=200)
    plan = plan_finetune(opts)     # nothing written yet: plan.render(), plan.files
    write(plan)                    # the copies and finetune.json; or plan_and_write(opts) for both

Names are loaded on first use, so ``import tunewiz.recipe`` stays light.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "FinetuneOptions": "options", "OptionsError": "options",
    "plan_net": "finetune", "plan_solver": "solver_stage", "plan_start": "finetune", "plan_finetune": "finetune",
    "write": "run", "write_plan": "run", "read_options": "run", "plan_and_write": "run",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tunewiz.recipe' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tunewiz.recipe.{_EXPORTS[name]}"), name)
