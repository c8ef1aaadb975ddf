"""``tunewiz export``: a deploy and its weights as ONNX, a torch.export program and/or a state dict.

    tunewiz export --model DEPLOY.prototxt --weights W.caffemodel
                   [--onnx OUT.onnx] [--torch OUT.pt2] [--state-dict OUT.pt] [--outputs a,b] [--force]

Inputs and outputs are named as the deploy's blobs (Input tops; the net's outputs, or ``--outputs``), the
batch axis is dynamic and the weights are inside the files.  Each ONNX/pt2 file is run on a random batch
after writing and compared with tunewiz's forward; a file that differs by more than 1e-4 relative is not
written, and a layer that cannot be exported with the same numbers stops the export naming it and why.
Existing files are replaced only with ``--force``.  ONNX needs the export extra (``pip install
'tunewiz[export]'``).
"""
from __future__ import annotations

import argparse

from tunewiz.export.extra import OPSET


def add_arguments(parser: argparse.ArgumentParser, name: str = "export") -> None:
    parser.add_argument("--model", required=True, metavar="DEPLOY.prototxt", help="the deploy net")
    parser.add_argument("--weights", required=True, metavar="W.caffemodel",
                        help="its weights (several: a.caffemodel,b.caffemodel, applied in order)")
    parser.add_argument("--onnx", metavar="OUT.onnx", help=f"write an ONNX model (opset {OPSET}, dynamic batch)")
    parser.add_argument("--torch", metavar="OUT.pt2",
                        help="write a torch.export program (torch.export.load(OUT.pt2).module(), no tunewiz needed)")
    parser.add_argument("--state-dict", metavar="OUT.pt",
                        help="write the blobs as {'layer/i': tensor} with torch.save (Caffe's blob order)")
    parser.add_argument("--outputs", default="", metavar="a,b,...",
                        help="blobs the exported net returns (default: the net's outputs)")
    parser.add_argument("--force", action="store_true", help="overwrite output files that exist")


def run(args: argparse.Namespace) -> int:
    from tunewiz.export.run import Targets, export_files

    targets = Targets(onnx=args.onnx, torch=args.torch, state_dict=args.state_dict, force=args.force)
    outputs = [b for b in args.outputs.split(",") if b] or None
    for written in export_files(args.model, args.weights, targets, outputs):
        line = f"wrote {written.path}"
        if written.note:
            line += f" ({written.note})"
        if written.agreement is not None:
            line += f": agrees with tunewiz forward on a random batch ({written.agreement.text()})"
        print(line)
    return 0
