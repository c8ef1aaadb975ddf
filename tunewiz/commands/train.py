"""``tunewiz train`` / ``test`` / ``time``: Caffe's ``caffe train|test|time`` with the same flags.

    tunewiz train --solver S.prototxt [--weights a.caffemodel[,b...] | --snapshot x.solverstate]
                  [--gpu 0|1|all] [--sigint_effect stop|snapshot|none] [--sighup_effect ...]
                  [--sigterm_effect stop|snapshot|none]
                  [--level N] [--stage a,b] [--run_dir DIR] [--numerics caffe|torch]
    tunewiz test --model NET.prototxt --weights W.caffemodel [--iterations 50] [--gpu 0] [--numerics ...]
                 [--confusion] [--labels labels.txt] [--json FILE [--force]] [--misclassified N]
    tunewiz time --model NET.prototxt [--iterations 50] [--gpu 0] [--numerics ...]

As in caffe, each of the three takes every one of caffe's flags (``-flag value`` or ``-flag=value``, see
:mod:`tunewiz.commands.gflags`); one it does not use gets a ``note:`` line instead of caffe's silence.

Paths inside the solver and nets are relative to the working directory, as in Caffe.  ``train`` logs
in Caffe's format to stderr and ``<run_dir>/train.log`` and appends events to
``<run_dir>/events.jsonl`` (run_dir: the working directory unless given).  Once the log is open,
everything ``train`` says on stderr carries glog's prefix — errors (``E``), Python warnings (``W``),
the traceback of a fault (``F``) — so ``caffe train``-style ``2>&1 | tee`` logs stay readable by
Caffe's ``tools/extra/parse_log.py``.

A run folder, and the folder of the solver's snapshot_prefix, belong to one trainer at a time (a lock:
a second trainer is refused with the owner's pid and command), and a new run never writes over another
run's snapshots: it is refused before training, with the ways out (:mod:`tunewiz.engine.train.runguard`).
SIGTERM (schedulers, ``timeout``, systemd) does what ``--sigterm_effect`` says: by default what Caffe's
SIGINT does (snapshot, then stop), so a job killed at its time limit keeps its progress.
``test``'s flags beyond caffe's (one pass of the validation set, class by class): :mod:`tunewiz.commands.confusion`.
"""
from __future__ import annotations

import argparse
import re
import signal
import sys
import threading

from tunewiz.commands import confusion, ranks
from tunewiz.errors import TunewizError
from tunewiz.runs import layout

EFFECTS = ("stop", "snapshot", "none")


def gpu_ids(text: str) -> str:
    """Caffe's ``-gpu``: ``0``, ``0,1`` or ``all`` (checked here, where caffe's lexical_cast would abort)."""
    if text in ("", "all") or all(part.strip().isdigit() for part in text.split(",")):
        return text
    raise argparse.ArgumentTypeError(f"'{text}': give GPU ids (0, or 0,1) or all")


# Caffe's flags: tools/caffe.cpp defines them once for all its actions, so every action takes every one
# and ignores the ones it does not read.  name -> (argparse options, the commands it acts on here).
# tunewiz reads a superset of what caffe reads: test honours -phase (caffe test always builds TEST)
# and time loads -weights (caffe time starts from fillers).
CAFFE_FLAGS: dict[str, tuple[dict, tuple[str, ...]]] = {
    "solver": ({"help": "the solver definition (.prototxt)"}, ("train",)),
    "model": ({"help": "the net definition (.prototxt)"}, ("test", "time")),
    "weights": ({"default": "", "help": "caffemodel(s) to start from (train: fine-tune; test: score), "
                 "comma-separated"}, ("train", "test", "time")),
    "snapshot": ({"default": "", "help": "a .solverstate to resume training from"}, ("train",)),
    "iterations": ({"type": int, "default": 50, "help": "number of iterations (default 50)"}, ("test", "time")),
    "gpu": ({"type": gpu_ids, "default": "", "help": "GPU id(s) to use: 0, 0,1 or all (train: one process per "
             "GPU, each with the net's batch_size; test and time use the first); absent: the solver's "
             "solver_mode (train) or the CPU"}, ("train", "test", "time")),
    "phase": ({"type": str.upper, "choices": ["TRAIN", "TEST"], "help": "the phase to build "
               "(default: TEST for test, TRAIN for time)"}, ("test", "time")),
    "level": ({"type": int, "default": 0, "help": "net state level"}, ("train", "test", "time")),
    "stage": ({"default": "", "help": "net state stages, comma-separated"}, ("train", "test", "time")),
    "sigint_effect": ({"default": "stop", "choices": EFFECTS,
                       "help": "what Ctrl-C does (default: stop, with a snapshot)"}, ("train",)),
    "sighup_effect": ({"default": "snapshot", "choices": EFFECTS,
                       "help": "what SIGHUP does (default: snapshot)"}, ("train",)),
}
_REQUIRED = {"train": "solver", "test": "model", "time": "model"}


def add_arguments(parser: argparse.ArgumentParser, name: str = "train") -> None:
    idle = parser.add_argument_group(f"caffe's flags that {name} accepts and ignores, as caffe {name} does")
    for flag, (options, used_by) in CAFFE_FLAGS.items():
        options = dict(options)
        if name not in used_by:  # None: "not given", so run() can say the flag did nothing
            options.update(default=None, help=re.sub(r" \(default[^)]*\)", "", options["help"]))
            idle.add_argument(f"--{flag}", **options)
            continue
        if flag == "phase":
            options["default"] = "TEST" if name == "test" else "TRAIN"
        if flag == "iterations" and name == "test":  # the scoring pass is whole unless -iterations is given
            options["action"] = confusion.StoreGiven
        parser.add_argument(f"--{flag}", required=_REQUIRED[name] == flag, **options)
    if name == "train":
        parser.add_argument("--run_dir", default=".", help="where events.jsonl and train.log go (default: .)")
        parser.add_argument("--sigterm_effect", default="stop", choices=EFFECTS,  # not caffe's: caffe dies
                            help="what SIGTERM (kill, timeout, a scheduler) does (default: stop, with a snapshot)")
    if name == "test":
        confusion.add_arguments(parser)
    parser.add_argument("--numerics", default="caffe", choices=["caffe", "torch"],
                        help="on the CPU: caffe = Caffe's own float32 order (default): Caffe's gradients to "
                             "the last bit and every solver's losses within 1e-6 of Caffe's, in about 0.9x "
                             "Caffe's own time; torch = torch's kernels: 1.7-1.8x faster again, the last bits "
                             "differ (SGD, Nesterov, AdaDelta, Adam stay within 1e-6 of Caffe's losses; "
                             "AdaGrad drifts 9e-2 and RMSProp 3e-4 in 50 iterations)")


def _note_ignored(args) -> None:
    """One ``note:`` line per Caffe flag given that does nothing on this command (caffe is silent)."""
    for flag, (_, used_by) in CAFFE_FLAGS.items():
        if args.command not in used_by and vars(args)[flag] is not None:
            print(f"note: -{flag} has no effect on tunewiz {args.command} (caffe {args.command} ignores it too)",
                  file=sys.stderr)


def run(args) -> int:
    _note_ignored(args)
    if args.command == "train":
        return _train(args)
    return _test_or_time(args)


def _stages(text: str) -> list[str]:
    return [s for s in text.split(",") if s]


def _signals(args, stop: threading.Event, snap: threading.Event):
    """Caffe's SignalHandler: SIGINT/SIGHUP -> stop / snapshot / nothing; SIGTERM too (caffe dies of it, losing
    the work since the last snapshot).  Returns a restore function."""
    def handler_for(effect):
        def handle(signum, frame):
            if effect == "stop":
                stop.set()
            elif effect == "snapshot":
                snap.set()
        return handle

    old = {}
    for sig, effect in ((signal.SIGINT, args.sigint_effect), (getattr(signal, "SIGHUP", None), args.sighup_effect),
                        (signal.SIGTERM, args.sigterm_effect)):
        if sig is not None:
            try:
                old[sig] = signal.signal(sig, handler_for(effect))
            except ValueError:  # not the main thread
                pass
    return lambda: [signal.signal(s, h) for s, h in old.items()]


def _train(args) -> int:
    """``caffe train``: alone, as one rank of a group (torchrun's environment), or as the ranks of --gpu 0,1."""
    from tunewiz.engine import dist

    from tunewiz.engine.devices import rank_count

    joined = dist.env_world()
    if joined is None and args.gpu and rank_count(args.gpu) > 1:
        return ranks.supervise(args, rank_count(args.gpu))
    if joined is not None and joined[0] > 0:  # rank 0 owns the run folder: no lock, no log file here
        sp, weights = _solver_and_weights(args, [])
        return _run_trainer(args, sp, weights, ranks.RankLog(joined[0]), None, joined)
    return _train_root(args, joined)


def _solver_and_weights(args, notes: list):
    from tunewiz.caffe.netio import read_solver

    if args.snapshot and args.weights:
        raise TunewizError("Give a snapshot to resume training or weights to finetune but not both "
                           "(--snapshot and --weights).")
    sp = read_solver(args.solver, notes)
    sp.train_state.level = args.level
    sp.train_state.stage.extend(_stages(args.stage))
    weights = [w.strip() for w in args.weights.split(",") if w.strip()] if args.weights else []
    if not weights and not args.snapshot:
        weights = [w.strip() for entry in sp.weights for w in entry.split(",") if w.strip()]
    sp.ClearField("weights")
    return sp, weights


def _train_root(args, joined) -> int:
    """Alone or rank 0: claim the run folder, open its log, train."""
    from pathlib import Path

    from tunewiz.engine.train.runguard import claim_run
    from tunewiz.engine.train.caffelog import CaffeLog
    from tunewiz.engine.train.nets import log_notes

    notes = []
    sp, weights = _solver_and_weights(args, notes)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # before the log opens: a refused trainer must not write a line into the owner's train.log
    claim = claim_run(run_dir, sp, args.solver, args.snapshot or None)
    try:
        log = CaffeLog(run_dir / layout.TRAIN_LOG)
    except BaseException:
        claim.release()
        raise
    try:
        log_notes(log, notes)  # Caffe's solver upgrade lines, as caffe train prints them
        claim.log_to(log)
        return _run_trainer(args, sp, weights, log, run_dir, joined)
    finally:
        log.close()
        claim.release()


def _run_trainer(args, sp, weights, log, run_dir, joined) -> int:
    """Join the group (if any), train, and say how it ended (one line for an error we know)."""
    from tunewiz.engine import dist
    from tunewiz.engine.train.trainer import TrainConfig, Trainer

    stop, snap = threading.Event(), threading.Event()
    restore = _signals(args, stop, snap)
    world = dist.ALONE
    try:
        with log.warnings_as_lines():
            device = ranks.choose_device(args.gpu, sp, log, joined[2] if joined else None)
            if joined is not None:
                world = dist.join(joined[0], joined[1], joined[2], device)
                log.info("use_gpu", f"tunewiz: {world.size} ranks ({world.backend or 'one'}), each with the net's "
                                    f"batch_size: together they train as one process with {world.size}x the batch")
            cfg = TrainConfig(sp, root=".", weights=weights, snapshot=args.snapshot or None, device=device,
                              run_dir=run_dir, stop=stop, snapshot_now=snap, log=log, numerics=args.numerics,
                              world=world)
            for event in Trainer(cfg).run():
                if event.kind == "stopped" and not event.fault:  # a fault is said once, by its error line
                    log.info("caffe.cpp:250", f"Stopped: {event.reason}")
        log.info("done_cli", "Optimization Done.")
        return 0
    except TunewizError as exc:  # one line, with the prefix (a bare line would break parse_log.py)
        log.error("caffe.cpp:250", str(exc))
        return exc.exit_code
    except Exception as exc:  # a fault of ours: its traceback, every line prefixed, in train.log too
        log.exception("caffe.cpp:250", exc)
        return 1
    finally:
        restore()
        world.close()


def _test_or_time(args) -> int:
    import torch

    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.checks.datafit import check_data_fit
    from tunewiz.engine.devices import prepare_device
    from tunewiz.engine.checks.memcheck import check_inference, guard
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.checks.phasecheck import check_phase
    from tunewiz.engine.train.caffelog import CaffeLog
    from tunewiz.engine.train.nets import load_weights
    from tunewiz.engine.train.timing import score_net, time_net

    if args.command == "test" and not args.weights:
        raise TunewizError("Need model weights to score: give --weights W.caffemodel (as caffe test).")
    if args.iterations <= 0:  # caffe runs no batch and prints nan (test) or divides by zero (time)
        raise TunewizError(f"--iterations {args.iterations}: give a number of iterations above 0 (e.g. "
                           f"--iterations 50, the default).")
    scoring = args.command == "test" and confusion.wanted(args)
    names = confusion.check_flags(args) if scoring else None  # before any work: --json, --labels
    log = CaffeLog(None)
    device = prepare_device(ranks.choose_device(args.gpu, None, log))
    net_param = read_net(args.model)
    net_param.state.phase, net_param.state.level = (0 if args.phase == "TRAIN" else 1), args.level
    net_param.state.stage.extend(_stages(args.stage))
    weights = [w for w in args.weights.split(",") if w]
    other = "TRAIN" if args.phase == "TEST" else "TEST"
    check_phase(net_param, args.model, f"{args.command} the {other} phase with --phase {other}")
    check_data_fit(net_param, weights=weights)  # records too small / other channels: one fix-it message
    # before anything is allocated: a batch or Input shape that cannot fit is one line with one that does
    check_inference(net_param, device, command=args.command, iterations=args.iterations, where=args.model)
    with guard(f"while building the {args.phase} net of {args.model}", device):
        net = Net(net_param, args.phase, level=args.level, stages=_stages(args.stage), device=device,
                  numerics=args.numerics)
    try:
        with guard(f"while running the {args.phase} net of {args.model}", device):
            if weights:
                load_weights(net, weights, None, log)
            if scoring:
                confusion.score(args, net, log, names)
            elif args.command == "test":
                score_net(net, args.iterations, log)
            else:
                torch.set_grad_enabled(True)
                time_net(net, args.iterations, log)
    finally:
        net.close()
    return 0
