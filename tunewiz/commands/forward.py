"""``tunewiz forward``: one forward pass of a net, blobs saved to .npz (pycaffe's ``net.forward()``).

    tunewiz forward --model NET.prototxt [--weights W.caffemodel[,W2.caffemodel]]
                    --input NAME=FILE.npy ... [--phase TEST] --output OUT.npz [--force] [--blobs a,b,...]

Input layers take their arrays from ``--input`` (every Input top needs one); Data/ImageData
layers read their next batch from their source (paths relative to the working directory, as
Caffe). The .npz holds the named blobs (default: all) after the pass, float32, keyed by blob
name; for in-place blobs the value after the last in-place layer, as pycaffe shows them.  An existing
OUT.npz is refused (before any work) unless ``--force``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tunewiz.outputs import check_output
from tunewiz.errors import TunewizError

#: ``--numerics`` of the commands that only run forward (forward, classify)
NUMERICS_HELP = ("on the CPU: torch = the prepared inference path (default: BatchNorm/Scale folded into the "
                 "convolutions, ReLU fused, oneDNN packed weights; within 1e-5 of Caffe's sums), caffe = Caffe's own "
                 "float32 summation order layer by layer (Convolution/InnerProduct blobs equal pycaffe's bit for "
                 "bit; slower)")


def add_arguments(parser: argparse.ArgumentParser, name: str = "forward") -> None:
    parser.add_argument("--model", required=True, metavar="NET.prototxt", help="the net definition")
    parser.add_argument("--weights", metavar="W.caffemodel", help="weights to copy by layer name "
                        "(several: a.caffemodel,b.caffemodel, applied in order)")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                        help="array for an Input top (repeat for each input)")
    parser.add_argument("--phase", default="TEST", type=str.upper, choices=["TRAIN", "TEST"],
                        help="which phase of the net to build (default TEST)")
    parser.add_argument("--output", required=True, metavar="OUT.npz", help="where to save the blobs")
    parser.add_argument("--force", action="store_true", help="overwrite OUT.npz if it exists")
    parser.add_argument("--blobs", default="", metavar="a,b,...", help="blobs to save (default: all)")
    parser.add_argument("--seed", type=int, default=None, help="seed for fillers of layers without weights")
    parser.add_argument("--numerics", default="torch", choices=["caffe", "torch"], help=NUMERICS_HELP)


def _inputs(specs: list[str]) -> dict:
    arrays = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise TunewizError(f"--input '{spec}': write it as NAME=FILE.npy (e.g. data=batch.npy)")
        if not Path(path).is_file():
            raise TunewizError(f"--input {name}: file '{path}' does not exist")
        arrays[name] = _load_npy(name, path)
    return arrays


def _load_npy(name: str, path: str):
    """One .npy array; anything else (text, an .npz, a pickle) is named, with how to make a .npy."""
    import numpy as np

    stem = Path(path).stem + ("_array" if Path(path).suffix == ".npy" else "")  # never suggest writing over it
    make = (f"make one with numpy.save('{stem}.npy', array) (e.g. array = numpy.loadtxt('{path}', "
            "dtype='float32').reshape(N, C, H, W) for numbers in a text file)")
    with open(path, "rb") as handle:
        head = handle.read(6)
    if head.startswith(b"PK\x03\x04"):
        raise TunewizError(f"--input {name}: '{path}' is an .npz archive (several arrays), not a .npy array; save "
                           f"the one array for {name} with numpy.save('{stem}.npy', archive['KEY'])")
    if head != b"\x93NUMPY":
        raise TunewizError(f"--input {name}: '{path}' is not a .npy array (no numpy header); {make}")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:  # a damaged .npy, or one of Python objects
        why = "it holds Python objects, not numbers" if "pickle" in str(exc) else f"damaged: {exc}"
        raise TunewizError(f"--input {name}: '{path}' is not a .npy array of numbers ({why}); {make}") from None


def _needed_inputs(net) -> list[str]:
    return [t for layer, w in zip(net.layers, net.wirings) if layer.param.type == "Input" for t in w.tops]


def _check_inputs(net, arrays: dict) -> None:
    needed = _needed_inputs(net)
    missing = [n for n in needed if n not in arrays]
    if missing:
        raise TunewizError(f"the net needs --input for {', '.join(missing)} "
                           f"(its Input tops: {', '.join(needed)})")
    extra = [n for n in arrays if n not in needed]
    if extra:
        raise TunewizError(f"--input {', '.join(extra)}: the net has no Input top of that name "
                           f"(its Input tops: {', '.join(needed) or 'none'})")
    for name in needed:
        want = net.blob_shapes[name]
        got = tuple(arrays[name].shape)
        if len(got) != len(want):
            raise TunewizError(f"--input {name}: array shape {got} has {len(got)} axes, the net's "
                               f"Input declares {want}")


def _save(path: str, blobs: dict) -> None:
    import numpy as np

    from tunewiz.caffe.tempfiles import temp_path

    target = Path(path)
    tmp = temp_path(target)  # renamed only once complete: a kill leaves OUT as it was
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, **blobs)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from tunewiz.caffe.netio import read_net
    from tunewiz.engine.checks.memcheck import check_inference, guard
    from tunewiz.engine.net.net import Net
    from tunewiz.engine.checks.phasecheck import check_phase
    from tunewiz.engine.inference import infer
    from tunewiz.engine.net.weights import copy_trained_layers

    check_output(args.output, args.force, "--output", ".npz file")
    arrays = _inputs(args.input)
    net_param = read_net(args.model)
    net_param.state.phase = 0 if args.phase == "TRAIN" else 1
    other = "TRAIN" if args.phase == "TEST" else "TEST"
    check_phase(net_param, args.model, f"run the {other} phase with --phase {other}")
    # before anything is allocated: an Input shape or batch that cannot fit is one line with one that does
    check_inference(net_param, "cpu", command="forward", where=args.model)
    with guard(f"while building the {args.phase} net of {args.model}", "cpu"):
        net = Net(net_param, args.phase, seed=args.seed, numerics=args.numerics)
    _check_inputs(net, arrays)
    if args.weights:
        report = copy_trained_layers(net, args.weights)
        print(f"weights: {len(report.copied)} layers copied, {len(report.new)} new "
              f"({', '.join(report.new) or '-'}), {len(report.ignored)} ignored", file=sys.stderr)
    elif any(len(layer.blobs) for layer in net.layers):
        print("weights: none given; layers with params use their fillers", file=sys.stderr)
    wanted = [b for b in args.blobs.split(",") if b]
    with guard(f"while running the {args.phase} net of {args.model}", "cpu"):
        blobs = infer(net, {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in arrays.items()},
                      keep=wanted or net.blob_shapes)
    names = wanted or [b for b in net.blob_shapes if b in blobs]
    unknown = [b for b in names if b not in blobs]
    if unknown:
        raise TunewizError(f"--blobs {', '.join(unknown)}: no such blob; the net has {', '.join(blobs)}")
    _save(args.output, {b: blobs[b].detach().cpu().numpy() for b in names})
    net.close()
    print(f"saved {len(names)} blobs to {args.output}")
    return 0
