"""Benchmark: records/s of a Data layer feed (256x256 records, crop 227, mirror, mean_file, TRAIN).

usage: python bench/read.py [--n 1000] [--batch 50] [--workers 0 1 2]
Builds (once, in the temp folder) raw and encoded-JPEG LMDBs of N images 256x256 from the
conversion benchmark's data set (../shared/bench/make_convert_set.py) and their mean, then
times ``Feed.next_batch`` for each kind of record and worker count (0 = decode in this process).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from convert import make_set  # noqa: E402


def build(images: str, where: str, encoded: bool) -> str:
    from tunewiz.data.imageset import Options, convert_list

    db = os.path.join(where, "read_jpg" if encoded else "read_raw")
    if not os.path.exists(db):
        opts = Options(resize_height=256, resize_width=256, encode_type="jpg" if encoded else "")
        for _ in convert_list(images + "/", os.path.join(images, "list.txt"), db, opts):
            pass
    return db


def mean_file(raw_db: str, where: str) -> str:
    from tunewiz.data.mean import compute_mean, write_mean

    path = os.path.join(where, "read_mean.binaryproto")
    if not os.path.exists(path):
        write_mean(compute_mean(raw_db)[0], path)
    return path


def layer(db: str, mean: str, batch: int):
    from tunewiz.caffe import caffe_pb2

    lp = caffe_pb2.LayerParameter(name="data", type="Data", top=["data", "label"])
    lp.data_param.source, lp.data_param.batch_size = db, batch
    lp.data_param.backend = caffe_pb2.DataParameter.LMDB
    tp = lp.transform_param
    tp.crop_size, tp.mirror, tp.mean_file = 227, True, mean
    return lp


def time_feed(lp, workers: int, batches: int) -> float:
    from tunewiz.data.feed import make_feed

    feed = make_feed(lp, 0, seed=1, workers=workers)
    feed.next_batch()  # warm-up (fills the prefetch queue)
    t0 = time.perf_counter()
    for _ in range(batches):
        feed.next_batch()
    seconds = time.perf_counter() - t0
    feed.close()
    return batches * lp.data_param.batch_size / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="*", default=[0, 1, 2])
    args = parser.parse_args()
    where = os.path.join(tempfile.gettempdir(), f"tunewiz_read_bench_{args.n}")
    os.makedirs(where, exist_ok=True)
    images = make_set(args.n, tempfile.gettempdir())
    raw = build(images, where, encoded=False)
    jpg = build(images, where, encoded=True)
    mean = mean_file(raw, where)
    print(f"{args.n} records 256x256 -> crop 227, mirror, mean_file, batch {args.batch}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f} (other work on the machine skews times)")
    for name, db in (("raw", raw), ("encoded jpg", jpg)):
        for workers in args.workers:
            rate = time_feed(layer(db, mean, args.batch), workers, args.batches)
            print(f"{name:>12}  workers={workers}: {rate:7.0f} records/s")


if __name__ == "__main__":
    main()
