"""A net fed by HDF5Data trains under ``tunewiz train`` as under ``caffe train``: HDF5Data (two files,
batches crossing them) -> InnerProduct -> SoftmaxWithLoss, 12 iterations of SGD with momentum from
the same weights; the displayed losses equal real Caffe's (``tests/fixtures/hdf5/caffe_runs.json``, made
by ``tests/fixtures/hdf5/make_fixture.py``), in order and shuffled (Caffe's shuffle draws glibc's
``rand()``, which tunewiz reproduces)."""
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from tunewiz.cli import main

pytest.importorskip("h5py")
FIX = Path(__file__).resolve().parents[2] / "fixtures" / "hdf5"
CAFFE = json.loads((FIX / "caffe_runs.json").read_text())
SOLVERS = {"plain": "solver.prototxt", "shuffle": "solver_shuffle.prototxt"}


def _workdir(tmp_path, monkeypatch) -> Path:
    work = tmp_path / "train"
    shutil.copytree(FIX / "train", work)
    monkeypatch.chdir(work)
    return work


@pytest.mark.parametrize("variant", sorted(SOLVERS))
def test_losses_equal_caffes(variant, tmp_path, monkeypatch):
    work = _workdir(tmp_path, monkeypatch)
    assert main(["train", "-solver", SOLVERS[variant], "-weights", "init.caffemodel"]) == 0
    log = (work / "train.log").read_text()
    ours = [float(v) for v in re.findall(r"Iteration \d+ \(.*\), loss = (\S+)", log)]
    assert len(ours) == len(CAFFE[variant]) == 12
    assert ours == pytest.approx(CAFFE[variant], abs=1e-4)


def test_without_h5py_one_line_names_the_extra(tmp_path, monkeypatch, capsys):
    _workdir(tmp_path, monkeypatch)
    monkeypatch.setitem(sys.modules, "h5py", None)
    assert main(["train", "-solver", "solver.prototxt", "-weights", "init.caffemodel"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    named = [line for line in err if "pip install 'tunewiz[hdf5]'" in line]
    assert len(named) == 1 and "layer 'h5' (HDF5Data)" in named[0] and "Traceback" not in "\n".join(err)


@pytest.mark.parametrize("variant", sorted(SOLVERS))
def test_resume_goes_on_at_the_row_where_it_stopped(variant, tmp_path, monkeypatch):
    """Resumed at iteration 5, the run goes on as the uninterrupted one (Caffe would start again at the
    first row): the file, the row and, shuffled, both orders and the rand() state are in the sidecar."""
    work = _workdir(tmp_path, monkeypatch)
    solver = (work / SOLVERS[variant]).read_text().replace("max_iter: 12", "max_iter: 5")
    (work / "five.prototxt").write_text(solver)
    (work / "twelve.prototxt").write_text(solver.replace("max_iter: 5", "max_iter: 12"))
    assert main(["train", "-solver", "five.prototxt", "-weights", "init.caffemodel"]) == 0
    state = next(work.glob("*_iter_5.solverstate")).name
    (work / "train.log").unlink()
    assert main(["train", "-solver", "twelve.prototxt", "-snapshot", state]) == 0
    ours = [float(v) for v in re.findall(r"Iteration \d+ \(.*\), loss = (\S+)", (work / "train.log").read_text())]
    assert ours[-7:] == pytest.approx(CAFFE[variant][5:], abs=1e-4)
