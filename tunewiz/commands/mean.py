"""``tunewiz compute-image-mean INPUT_DB [OUTPUT_FILE]``: the mean image, like Caffe's tool.

Writes the same binaryproto as Caffe (legacy num=1/channels/height/width) and prints Caffe's
lines (``Number of channels``, ``mean_value channel [c]``).  An existing OUTPUT_FILE is kept
unless ``--force``.
"""
from __future__ import annotations

import argparse

from tunewiz.outputs import check_output


def add_arguments(parser: argparse.ArgumentParser, name: str = "compute-image-mean") -> None:
    parser.add_argument("input_db", metavar="INPUT_DB", help="LMDB or LevelDB of Datum records")
    parser.add_argument("output", metavar="OUTPUT_FILE", nargs="?", help="binaryproto to write (optional)")
    parser.add_argument("--backend", choices=["lmdb", "leveldb"], default=None,
                        help="database type (default: detected from the files)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing OUTPUT_FILE")


def run(args: argparse.Namespace) -> int:
    from tunewiz.data.mean import channel_mean_values, compute_mean, format_g6, write_mean

    if args.output:
        check_output(args.output, args.force, "OUTPUT_FILE", "mean file")
    mean, count, decoded = compute_mean(args.input_db, args.backend)
    if decoded:
        print("Decoding Datum")
    print(f"Processed {count} files.")
    if args.output:
        write_mean(mean, args.output)
        print(f"Write to {args.output}")
    print(f"Number of channels: {mean.shape[0]}")
    for c, value in enumerate(channel_mean_values(mean)):
        print(f"mean_value channel [{c}]: {format_g6(value)}")
    return 0
