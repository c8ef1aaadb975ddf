"""``tunewiz finetune``: steps 2-4 of the recipe in one command (copy, edit, check, write; optionally train).

The sources are read as written (a V1 file stays V1), edited by ``tunewiz.recipe``,
checked (transfer report, snapshot fit), and only then written into ``--out`` by
``tunewiz.recipe.run.write_plan``.  ``--train`` then runs ``tunewiz train`` on the copies.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from tunewiz.errors import TunewizError


def add_arguments(parser: argparse.ArgumentParser, name: str = "finetune") -> None:
    a = parser.add_argument
    a("--net", help="source train_val prototxt (default: the --model folder's)")
    a("--deploy", help="source deploy prototxt (rewired too)")
    a("--solver", help="source solver prototxt (default: the --model folder's)")
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--weights", help="pretrained caffemodel(s), comma separated")
    start.add_argument("--model", help="a Model Zoo folder: prototxt + caffemodel + readme.md (sha1 checked)")
    start.add_argument("--snapshot", help="a .solverstate to resume this run from")
    a("--train-db", required=True, help="training database (LMDB/LevelDB, made in step 1 by convert-imageset)")
    a("--val-db", required=True, help="validation database (LMDB/LevelDB)")
    a("--classes", type=int, help="number of classes (default: counted from the training labels)")
    a("--output-layer", help="the layer to replace (default: found — the last layer with parameters before the loss)")
    a("--rename", help="new name of the output layer (default <layer>_<run>; the same name keeps its weights)")
    a("--keep-lr-mult", action="store_true", help="keep the output layer's lr_mult (default 10/20, flickr style)")
    a("--freeze-through", metavar="LAYER", help="lr_mult 0 for every layer up to LAYER")
    mem = parser.add_mutually_exclusive_group()
    mem.add_argument("--batch-size", type=int, help="training batch_size (iter_size keeps the effective batch)")
    mem.add_argument("--gpu-memory", help="free GPU memory, e.g. 8G, or 'auto' (ask the GPU): the advisor picks batch_size/iter_size")
    a("--lr-divisor", type=float, default=10.0, help="base_lr is divided by this (default 10; up to 100)")
    a("--max-iter", type=int, help="new max_iter (stepsize/stepvalue scale with it)")
    a("--snapshot-every", type=int, help="snapshot interval (default: the solver's, at most max_iter)")
    a("--mean-file", help="mean binaryproto for the data layers")
    a("--mean-value", help="per-channel mean values, comma separated (B,G,R)")
    a("--mode", choices=["cpu", "gpu"], help="solver_mode of the run (default: GPU when one is available)")
    a("--run-name", help="run name (default: the --out folder's name)")
    a("--out", required=True, help="run folder for the edited copies and the snapshots")
    a("--overwrite", action="store_true", help="replace copies that already exist in --out")
    a("--diff", action="store_true", help="print the unified diff of each copy against its source")
    a("--dry-run", action="store_true", help="print the plan, write nothing")
    a("--train", action="store_true", help="start 'tunewiz train' on the copies")


def _run_name(args) -> str:
    raw = args.run_name or Path(args.out).resolve().name
    name = re.sub(r"[^A-Za-z0-9_]+", "_", raw).strip("_")
    return name or "run"


def run(args) -> int:
    from tunewiz.recipe.finetune import build_plan
    from tunewiz.recipe.run import write_plan

    plan = build_plan(args, _run_name(args))
    print(plan.render())
    if args.diff:
        from tunewiz.recipe.diff import diff_against_source

        for name, text in plan.files.items():
            if name in plan.sources:
                print(diff_against_source(plan.sources[name], text, str(plan.path(name))))
    if args.dry_run:
        print("(dry run: nothing written)")
        return 0
    written = write_plan(plan, overwrite=args.overwrite)
    for p in written:
        print(f"wrote {p}")
    if not args.train:
        print(f"next: tunewiz train --solver {plan.path('solver.prototxt')} " +
              (f"--snapshot {plan.snapshot}" if plan.snapshot else f"--weights {','.join(plan.weights)}"))
        return 0
    return _train(plan)


def _train(plan) -> int:
    """``tunewiz train`` on the copies, through the train command itself (same flags, same log)."""
    from tunewiz.commands import train as train_command
    from tunewiz.commands.gflags import GflagsParser

    argv = ["--solver", str(plan.path("solver.prototxt")), "--run_dir", str(plan.out_dir)]
    argv += ["--snapshot", plan.snapshot] if plan.snapshot else ["--weights", ",".join(plan.weights)]
    print("$ tunewiz train " + " ".join(argv), flush=True)
    parser = GflagsParser(prog="tunewiz train")
    train_command.add_arguments(parser, "train")
    args = parser.parse_args(argv)
    args.command = "train"
    code = train_command.run(args)
    if code != 0:
        raise TunewizError(f"training stopped with exit status {code}")
    return 0
