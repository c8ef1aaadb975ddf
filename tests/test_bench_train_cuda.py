"""bench/train_cuda.py's CPU-side parts: every section runs and reports what the issue asks for.

A smoke run (``--quick``: batch 2, a few iterations, fp32 and bf16) on the CPU; the figures themselves
are measured on a GPU machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_section_reports_its_figures():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "train_cuda.py"), "--quick", "--precisions", "fp32,bf16"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    throughput = [r for r in lines if r["section"] == "throughput"]
    assert {(r["net"], r["precision"]) for r in throughput} == {
        (n, p) for n in ("caffenet", "resnet50") for p in ("fp32", "bf16")}
    assert all(r["engine_images_per_s"] > 0 and r["torch_images_per_s"] > 0 and r["engine_over_torch"] > 0
               for r in throughput)
    feed = [r for r in lines if r["section"] == "feed"]
    assert len(feed) == 1 and feed[0]["feed_ratio"] > 0
    agreement = [r for r in lines if r["section"] == "agreement"]
    assert [r["net"] for r in agreement] == ["lenet"] and agreement[0]["cpu_images_per_s"] > 0
