"""The one step that writes: a plan's copies go into the run folder.

Rules: the source prototxts are never written (a target that IS a source is
refused); an existing copy is not overwritten unless ``overwrite=True``; each file is
written atomically.  ``finetune.json`` records the sha256 of the copies, so a later
resume can tell whether solver or net changed since (``tunewiz.recipe.start``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from tunewiz.caffe.tempfiles import temp_path
from tunewiz.recipe.layers import RecipeError
from tunewiz.recipe.finetune import plan_finetune
from tunewiz.recipe.options import FinetuneOptions
from tunewiz.recipe.plan import FinetunePlan, changed_copies
from tunewiz.recipe.start import FINGERPRINT, fingerprint


def conflicts(plan: FinetunePlan) -> list[Path]:
    """Copies that already exist with other content."""
    return changed_copies(plan.out_dir, plan.files)


def read_options(path: str | os.PathLike):
    """The :class:`FinetuneOptions` kept in a run folder's ``finetune.json`` (or the file itself)."""
    p = Path(path)
    p = p / FINGERPRINT if p.is_dir() else p
    try:
        record = json.loads(p.read_text())
    except OSError as exc:
        raise RecipeError(f"{p}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise RecipeError(f"{p}: not JSON ({exc})") from None
    if not isinstance(record, dict) or "options" not in record:
        raise RecipeError(f"{p}: holds no fine-tune options (written by an older tunewiz?); run finetune with "
                          "its flags once")
    return FinetuneOptions.from_json(record["options"], str(p))


def write_plan(plan: FinetunePlan, overwrite: bool = False) -> list[Path]:
    """Write the copies; return the paths written (unchanged identical files are skipped)."""
    sources = {Path(s).resolve() for s in plan.sources.values()}
    for name in plan.files:
        if plan.path(name).resolve() in sources:
            raise RecipeError(f"{plan.path(name)} is a source file; the source is never edited — "
                              "choose another --out folder")
    clash = conflicts(plan)
    if clash and not overwrite:
        names = ", ".join(str(p) for p in clash)
        raise RecipeError(f"{names} already exist(s) with other content; nothing was written. Use another --out "
                          "folder, or --overwrite to replace the copies")
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in plan.files.items():
        p = plan.path(name)
        if p.exists() and p.read_text(errors="replace") == text:
            continue
        tmp = temp_path(p)  # tunewiz's name with our pid: a trainer in this folder clears it if we are killed
        tmp.write_text(text)
        os.replace(tmp, p)
        written.append(p)
    record = fingerprint([plan.path(n) for n in plan.files])
    record["sources"] = {n: str(s) for n, s in plan.sources.items()}
    if plan.options is not None:
        record["options"] = plan.options.to_json()
    (plan.out_dir / FINGERPRINT).write_text(json.dumps(record, indent=1) + "\n")
    return written


write = write_plan


def plan_and_write(options: FinetuneOptions, overwrite: bool = False) -> FinetunePlan:
    """``plan_finetune`` then ``write_plan``: the copies and finetune.json for ``options``; returns the plan."""
    plan = plan_finetune(options)
    write_plan(plan, overwrite=overwrite)
    return plan
