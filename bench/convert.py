"""Benchmark: 2,000 JPEGs (320x240, colour) -> 256x256 raw LMDB records, like Caffe's convert_imageset.

usage: python bench/convert.py [--n 2000] [--workers N ...] [--set DIR]
Makes the data set with ../shared/bench/make_convert_set.py (or reuses --set), converts it with
``tunewiz.data.imageset.convert_list`` (resize 256x256, raw, LMDB) once per worker count, and
prints images/s next to real Caffe's 390 images/s on the 2-core reference machine (target >= 1.8x).
Also prints the peak RSS of this process and its workers.  Workers start from the fork server
(``tunewiz.data.workers``), so they are not this process's children: their CPU time and RSS are
counted only with ``TUNEWIZ_START_METHOD=fork`` (the start method is printed).  LMDB is written
without writemap (a full disk is then a write error, not SIGBUS): a transaction's dirty pages are held
in memory until its commit, which happens at least every 64 MiB, so the anonymous memory stays bounded.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

CAFFE_RATE = 390.0
GENERATOR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench", "make_convert_set.py")


def make_set(n: int, where: str) -> str:
    out = os.path.join(where, f"convert_set_{n}")
    if not os.path.exists(os.path.join(out, "list.txt")):
        generator = os.environ.get("TUNEWIZ_CONVERT_SET_GENERATOR", GENERATOR)
        subprocess.run([sys.executable, generator, out, str(n)], check=True, stdout=subprocess.DEVNULL)
    return out


def run_once(images: str, workers: int | None, tmp: str) -> tuple[int, float]:
    from tunewiz.data.imageset import Finished, Options, convert_list

    db = os.path.join(tmp, f"bench_db_{workers}")
    shutil.rmtree(db, ignore_errors=True)
    opts = Options(resize_height=256, resize_width=256, workers=workers)
    cpu0 = _cpu()
    t0 = time.perf_counter()
    records = 0
    for event in convert_list(images + "/", os.path.join(images, "list.txt"), db, opts):
        if isinstance(event, Finished):
            records = event.records
    seconds = time.perf_counter() - t0
    cpu = _cpu() - cpu0
    shutil.rmtree(db, ignore_errors=True)
    return records, seconds, cpu


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its finished workers."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--workers", type=lambda v: None if v == "auto" else int(v), nargs="*", default=[None],
                        help="worker counts to time (auto = one per CPU, 0 = in this process)")
    parser.add_argument("--set", help="an existing data set folder (with list.txt)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="tunewiz_bench_")
    try:
        images = args.set or make_set(args.n, tempfile.gettempdir())
        from tunewiz.data.workers import start_context

        method = start_context().get_start_method()
        print(f"data set: {images}  cpus: {os.cpu_count()}  worker start method: {method}")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work on the machine skews times)")
        for workers in args.workers:
            rates = []
            for _ in range(args.repeat):
                records, seconds, cpu = run_once(images, workers, tmp)
                rates.append(records / seconds)
                print(f"workers={'auto' if workers is None else workers:>4}: {records} images in {seconds:.2f} s = "
                      f"{rates[-1]:.0f} images/s = {rates[-1] / CAFFE_RATE:.2f}x Caffe's {CAFFE_RATE:.0f} (target 1.8x); "
                      f"CPU {1000 * cpu / records:.2f} ms/image" + ("" if method == "fork" else " (this process only)"))
            if len(rates) > 1:
                rates.sort()
                print(f"workers={'auto' if workers is None else workers:>4}: best {rates[-1]:.0f}, median "
                      f"{rates[len(rates) // 2]:.0f} images/s over {len(rates)} runs")
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS: main {own:.0f} MiB" + (f", largest worker {kids:.0f} MiB" if method == "fork" else ""))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
