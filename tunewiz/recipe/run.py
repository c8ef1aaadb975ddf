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

from tunewiz.recipe.layers import RecipeError
from tunewiz.recipe.plan import FinetunePlan
from tunewiz.recipe.start import FINGERPRINT, fingerprint


def conflicts(plan: FinetunePlan) -> list[Path]:
    """Copies that already exist with other content."""
    out = []
    for name, text in plan.files.items():
        p = plan.path(name)
        if p.exists() and p.read_text(errors="replace") != text:
            out.append(p)
    return out


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
        tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, p)
        written.append(p)
    record = fingerprint([plan.path(n) for n in plan.files])
    record["sources"] = {n: str(s) for n, s in plan.sources.items()}
    (plan.out_dir / FINGERPRINT).write_text(json.dumps(record, indent=1) + "\n")
    return written
