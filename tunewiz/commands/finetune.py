"""``tunewiz finetune``: steps 3-5 (Net, Solver, Start) in one command (copy, edit, check, write; optionally train).

The sources are read as written (a V1 file stays V1), edited by ``tunewiz.recipe``,
checked (transfer report, snapshot fit), and only then written into ``--out`` by
``tunewiz.recipe.run.write_plan``.  ``--train`` then runs ``tunewiz train`` on the copies.
"""
from __future__ import annotations

import argparse
import shlex

from tunewiz.errors import TunewizError
from tunewiz.runs import layout


def add_arguments(parser: argparse.ArgumentParser, name: str = "finetune") -> None:
    from tunewiz.recipe.options import add_arguments as option_arguments

    parser.add_argument("--options", metavar="FINETUNE_JSON",
                        help="replay a run's choices: its finetune.json (or the run folder); no other option flag")
    option_arguments(parser)
    a = parser.add_argument
    a("--overwrite", action="store_true", help="replace copies that already exist in --out")
    a("--diff", action="store_true", help="print the unified diff of each copy against its source")
    a("--dry-run", action="store_true", help="print the plan, write nothing")
    a("--train", action="store_true", help="start 'tunewiz train' on the copies")


def options_of(args):
    """The FinetuneOptions of the command line: its flags, or the --options file alone."""
    from tunewiz.recipe import options as opt
    from tunewiz.recipe.run import read_options

    if args.options:
        flags = opt.given(args)
        if flags:
            raise TunewizError(f"--options replays a run as it was: give it alone, without {flags[0]} (or edit "
                               "the flags of the command it stands for)")
        return read_options(args.options)
    return opt.from_args(args)


def run(args) -> int:
    from tunewiz.recipe.finetune import plan_finetune

    plan = plan_finetune(options_of(args))
    print(plan.render())
    if args.diff:
        from tunewiz.recipe.diff import diff_against_source

        for name, text in plan.files.items():
            if name in plan.sources:
                print(diff_against_source(plan.sources[name], text, str(plan.path(name))))
    if args.dry_run:
        print("(dry run: nothing written)")
        return 0
    for p in _write(plan, args.overwrite):
        print(f"wrote {p}")
    if not args.train:
        print("next: tunewiz train " + shlex.join(train_argv(plan)))
        return 0
    return _train(plan)


def finetune(options, *, train: bool = True, overwrite: bool = False):
    """A script's one call (``tunewiz.finetune``): plan the copies of ``options`` (a FinetuneOptions), write
    them into its ``out`` and, with ``train``, train on them, as ``tunewiz finetune --train`` does; the plan
    (``plan.out_dir``, ``plan.files``) is returned.  Bad options raise the same one-line errors the command
    prints."""
    from tunewiz.recipe.finetune import plan_finetune

    plan = plan_finetune(options)
    _write(plan, overwrite)
    if train:
        _train(plan)
    return plan


def _write(plan, overwrite: bool) -> list:
    """The copies into ``--out`` (never under a trainer that runs there); the paths written."""
    from tunewiz.recipe.run import write_plan

    _check_not_training(plan.out_dir)
    return write_plan(plan, overwrite=overwrite)


def _check_not_training(out_dir) -> None:
    """A trainer running in --out reads these copies (and writes there): never rewrite them under it."""
    from tunewiz.runs.lock import folder_owner

    owner = folder_owner(out_dir)
    if owner is not None:
        stop = f", stop it (kill -INT {owner.pid})" if owner.pid else ""
        raise TunewizError(f"--out {out_dir} is the run folder of a training that is running: {owner.describe()}; "
                           f"nothing was written. Wait for it to end{stop}, or give another --out")


def train_argv(plan) -> list[str]:
    """``tunewiz train``'s flags for the copies: the run folder's solver, its start, and ``--run_dir`` (without
    it train.log and events.jsonl would go to the working folder, where neither the wizard nor ``tunewiz
    attach`` nor ``classify --run`` looks)."""
    argv = ["--solver", str(plan.path(layout.SOLVER)), "--run_dir", str(plan.out_dir)]
    argv += ["--snapshot", plan.snapshot] if plan.snapshot else ["--weights", ",".join(plan.weights)]
    argv += ["--gpu", plan.options.gpu] if plan.options.gpu else []  # one rank per GPU
    return argv + ["--numerics", plan.options.numerics]


def _train(plan) -> int:
    """``tunewiz train`` on the copies, through the train command itself (same flags, same log)."""
    from tunewiz.commands import train as train_command
    from tunewiz.commands.gflags import GflagsParser

    argv = train_argv(plan)
    print("$ tunewiz train " + shlex.join(argv), flush=True)
    parser = GflagsParser(prog="tunewiz train")
    train_command.add_arguments(parser, "train")
    args = parser.parse_args(argv)
    args.command = "train"
    code = train_command.run(args)
    if code != 0:
        raise TunewizError(f"training stopped with exit status {code}")
    return 0
