"""The diff view and the one writing step (never the source, never over an existing copy unless asked)."""
import json

import pytest

from tunewiz.caffe.prototxt import to_text
from tunewiz.recipe.classes import change_classes
from tunewiz.recipe.diff import unified_diff
from tunewiz.recipe.layers import RecipeError, clone
from tunewiz.recipe.plan import FinetunePlan
from tunewiz.recipe.run import write_plan
from tests.recipe.conftest import FIX


def test_diff_shows_only_the_edits(net):
    src = net("lenet_train_val.prototxt")
    copy = clone(src)
    change_classes(copy, 3, run="r", mults=None)
    d = unified_diff(src, copy, "a", "b")
    changed = [l for l in d.splitlines() if l[:1] in "+-" and not l.startswith(("+++", "---"))]
    assert sorted(changed) == sorted(['-  name: "ip2"', '+  name: "ip2_r"', '-  top: "ip2"', '+  top: "ip2_r"',
                                      '-    num_output: 4', '+    num_output: 3',
                                      '-  bottom: "ip2"', '+  bottom: "ip2_r"', '-  bottom: "ip2"',
                                      '+  bottom: "ip2_r"'])
    assert unified_diff(src, clone(src)) == ""


def _plan(tmp_path, text="name: 'x'\n"):
    p = FinetunePlan(tmp_path / "run")
    p.files["train_val.prototxt"] = text
    p.sources["train_val.prototxt"] = FIX / "lenet_train_val.prototxt"
    return p


def test_write_and_refuse_overwrite(tmp_path):
    written = write_plan(_plan(tmp_path))
    assert [w.name for w in written] == ["train_val.prototxt"]
    record = json.loads((tmp_path / "run" / "finetune.json").read_text())
    assert len(record["sha256"]["train_val.prototxt"]) == 64
    assert write_plan(_plan(tmp_path)) == []  # same content: nothing to do
    with pytest.raises(RecipeError, match="already exist.*--overwrite"):
        write_plan(_plan(tmp_path, "name: 'y'\n"))
    assert (tmp_path / "run" / "train_val.prototxt").read_text() == "name: 'x'\n"
    write_plan(_plan(tmp_path, "name: 'y'\n"), overwrite=True)
    assert (tmp_path / "run" / "train_val.prototxt").read_text() == "name: 'y'\n"


def test_source_is_never_written(tmp_path):
    src = tmp_path / "run" / "train_val.prototxt"
    src.parent.mkdir()
    src.write_text("name: 'src'\n")
    p = _plan(tmp_path, "name: 'edited'\n")
    p.sources["train_val.prototxt"] = src
    with pytest.raises(RecipeError, match="source is never edited"):
        write_plan(p, overwrite=True)
    assert src.read_text() == "name: 'src'\n"
