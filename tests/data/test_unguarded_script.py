"""A pycaffe script without an ``if __name__ == "__main__"`` guard, run as ``python script.py``, reads an
ImageData layer through decoding workers: the workers must not re-run the script (which made them die
and the script fail with a misleading WorkerDied), and the feed's shared memory must not leak at exit."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

from tunewiz.data.workers import main_hidden

cv2 = pytest.importorskip("cv2")

NET = """\
layer { name: "data" type: "ImageData" top: "data" top: "label"
        image_data_param { source: "list.txt" batch_size: 4 } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""

SCRIPT = textwrap.dedent("""\
    print("script runs", flush=True)
    import tunewiz as caffe
    net = caffe.Net("train_val.prototxt", caffe.TRAIN)
    for _ in range(3):
        out = net.forward()
    print("workers", net._engine.layers[0].feed.workers, "loss", float(out["loss"]), flush=True)
    """)


def test_an_unguarded_script_reads_through_its_workers(tmp_path):
    rng = np.random.RandomState(0)
    for i in range(8):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), (rng.rand(8, 8, 3) * 255).astype(np.uint8))
    (tmp_path / "list.txt").write_text("".join(f"img{i}.png {i % 2}\n" for i in range(8)))
    (tmp_path / "train_val.prototxt").write_text(NET)
    (tmp_path / "script.py").write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "TUNEWIZ_START_METHOD"}
    done = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("script runs") == 1, done.stdout  # no worker ran the script again
    words = done.stdout.split()
    assert int(words[words.index("workers") + 1]) > 0  # the feed did decode in worker processes
    assert "WorkerDied" not in done.stderr and "leaked" not in done.stderr, done.stderr


def test_main_is_hidden_only_inside_the_block():
    main = sys.modules["__main__"]
    with main_hidden():
        bare = sys.modules["__main__"]
        assert bare is not main and isinstance(bare, types.ModuleType)
        assert getattr(bare, "__file__", None) is None and bare.__spec__ is None
    assert sys.modules["__main__"] is main
