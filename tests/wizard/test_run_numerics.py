"""A resume trains with the run folder's own numerics (its finetune.json's options)."""
from __future__ import annotations

import json

from tunewiz.runs import launch
from tunewiz.wizard.core_run import run_numerics


def test_the_trainer_gets_the_runs_numerics(tmp_path):
    """The wizard launches ``tunewiz train --numerics`` with the run's FinetuneOptions.numerics; a resume reads
    them back from the run folder's finetune.json (Caffe's order for a folder that holds none)."""
    from tunewiz.recipe.options import FinetuneOptions

    cmd = launch.train_command("s.prototxt", weights=["a.caffemodel"], numerics="torch")
    assert cmd[cmd.index("--numerics") + 1] == "torch"
    assert run_numerics(tmp_path) == "caffe"
    opts = FinetuneOptions(net="n", solver="s", weights="w", train_db="t", val_db="v", out=str(tmp_path),
                           numerics="torch")
    (tmp_path / "finetune.json").write_text(json.dumps({"sha256": {}, "options": opts.to_json()}))
    assert run_numerics(tmp_path) == "torch"


def test_the_trainer_gets_the_runs_gpus(tmp_path):
    """FinetuneOptions.gpu becomes the trainer's --gpu (one rank per GPU); a resume reads it back."""
    from tunewiz.recipe.options import FinetuneOptions
    from tunewiz.wizard.core_run import run_gpu

    cmd = launch.train_command("s.prototxt", weights=["a.caffemodel"], gpu="0,1")
    assert cmd[cmd.index("--gpu") + 1] == "0,1"
    assert "--gpu" not in launch.train_command("s.prototxt", weights=["a.caffemodel"])
    assert run_gpu(tmp_path) is None
    opts = FinetuneOptions(net="n", solver="s", weights="w", train_db="t", val_db="v", out=str(tmp_path), gpu="all")
    (tmp_path / "finetune.json").write_text(json.dumps({"sha256": {}, "options": opts.to_json()}))
    assert run_gpu(tmp_path) == "all"
