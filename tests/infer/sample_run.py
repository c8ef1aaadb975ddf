"""A real run folder: the bundled sample fine-tuned for a few iterations, the way a user makes one.

``convert-imageset`` of the sample's class folders (5..9) into ``RUN/data`` (``labels.txt`` comes with it),
then ``tunewiz finetune --train`` with a test and a snapshot every 10 iterations.  Both in this process.
"""
from __future__ import annotations

from pathlib import Path

from tunewiz.cli import main
from tunewiz.sample_models import LENET_DIGITS

ITERATIONS = 30
EVERY = 10


def make_sample_run(work: Path, name: str = "digits") -> Path:
    """``work/runs/<name>``, trained (every path given absolute: any working directory will do)."""
    work = Path(work).resolve()
    run = work / "runs" / name
    data = run / "data"
    data.mkdir(parents=True)
    assert main(["convert-imageset", "--gray", "--resize_height", "20", "--resize_width", "20", "--shuffle",
                 "--val_fraction", "0.2", f"{LENET_DIGITS}/images/", str(data / "train_lmdb"),
                 "--val_db", str(data / "val_lmdb")]) == 0
    assert main(["finetune", "--net", str(LENET_DIGITS / "lenet_train_val.prototxt"),
                 "--deploy", str(LENET_DIGITS / "lenet_deploy.prototxt"),
                 "--solver", str(LENET_DIGITS / "lenet_solver.prototxt"),
                 "--weights", str(LENET_DIGITS / "lenet_digits04.caffemodel"),
                 "--train-db", str(data / "train_lmdb"), "--val-db", str(data / "val_lmdb"),
                 "--max-iter", str(ITERATIONS), "--test-interval", str(EVERY), "--snapshot-every", str(EVERY),
                 "--mode", "cpu", "--out", str(run), "--train"]) == 0
    return run
