"""``tunewiz pycaffe``: ``--path`` and running an unchanged pycaffe script, by both documented routes.

The script is pycaffe as its users write it (``import caffe``, ``from caffe.proto import caffe_pb2``,
``caffe.Net(deploy, weights, caffe.TEST)``, a blob written in place, ``net.forward()['prob']``) on the
sample LeNet; the class it prints is the one real pycaffe gives for that image
(``tests/fixtures/pycaffe_classifier/expected.npz``, the center prediction of the third image).
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tunewiz.cli import main
from tunewiz.sample_models import LENET_DIGITS

EXPECTED = Path(__file__).resolve().parents[1] / "fixtures" / "pycaffe_classifier" / "expected.npz"
COMPAT = Path(__file__).resolve().parents[2] / "tunewiz" / "pycaffe" / "compat"

SCRIPT = """\
import sys
import caffe
from caffe.proto import caffe_pb2

caffe.set_mode_cpu()
net = caffe.Net('{deploy}', '{weights}', caffe.TEST)
t = caffe.io.Transformer({{'data': net.blobs['data'].data.shape}})
t.set_transpose('data', (2, 0, 1))
t.set_raw_scale('data', 255)
t.set_input_scale('data', 1 / 256.0)
image = caffe.io.resize_image(caffe.io.load_image('{image}', color=False), (20, 20))
net.blobs['data'].data[...] = t.preprocess('data', image)
assert isinstance(caffe_pb2.NetParameter(), caffe_pb2.NetParameter) and __name__ == '__main__'
print(sys.argv[1:])
print(net.forward()['prob'].argmax())
"""


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    expected = np.load(EXPECTED)
    path = tmp_path_factory.mktemp("pycaffe") / "classify.py"
    path.write_text(SCRIPT.format(deploy=LENET_DIGITS / "lenet_deploy.prototxt",
                                  weights=LENET_DIGITS / "lenet_digits04.caffemodel",
                                  image=LENET_DIGITS / str(expected["lenet_images"][2])))
    return path


@pytest.fixture(scope="module")
def expected_class() -> str:
    return str(np.load(EXPECTED)["lenet_center"][2].argmax())


def _env(extra: str = "") -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra, env.get("PYTHONPATH")]))
    env.setdefault("GLOG_minloglevel", "2")
    return env


def _tunewiz(*argv, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tunewiz", *map(str, argv)], capture_output=True, text=True,
                          env=_env(), cwd=cwd, timeout=300)


def test_path_prints_the_folder_of_the_caffe_package(capsys):
    assert main(["pycaffe", "--path"]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert folder == COMPAT.resolve() and (folder / "caffe" / "__init__.py").is_file()


def test_the_script_runs_with_pythonpath_set_to_the_path(script, expected_class):
    folder = _tunewiz("pycaffe", "--path").stdout.strip()
    done = subprocess.run([sys.executable, str(script), "a"], capture_output=True, text=True, env=_env(folder),
                          cwd=script.parent, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["['a']", expected_class]


def test_the_script_runs_through_tunewiz_pycaffe_with_its_own_arguments(script, expected_class):
    done = _tunewiz("pycaffe", script, "-x", "--model", "--", "z", cwd=script.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["['-x', '--model', '--', 'z']", expected_class]


def test_the_folder_is_not_on_sys_path_by_default():
    check = "import tunewiz.cli, sys, importlib.util; print(importlib.util.find_spec('caffe'))"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=_env(), timeout=120)
    assert str(COMPAT) not in done.stdout and done.returncode == 0, done.stderr


def test_a_script_that_exits_gives_its_status(tmp_path, capsys):
    argv, pythonpath = list(sys.argv), os.environ.get("PYTHONPATH")
    (tmp_path / "quit.py").write_text('"""Exits 3."""\nimport sys\nimport caffe\nsys.exit(3)\n')
    with pytest.raises(SystemExit) as exited:
        main(["pycaffe", str(tmp_path / "quit.py")])
    assert exited.value.code == 3
    for name in [m for m in sys.modules if m == "caffe" or m.startswith("caffe.")]:
        del sys.modules[name]
    # sys.path, sys.argv and PYTHONPATH are as they were
    assert str(COMPAT) not in sys.path and sys.argv == argv
    assert os.environ.get("PYTHONPATH") == pythonpath


@pytest.mark.parametrize("argv, message", [
    (["pycaffe", "nope.py"], "tunewiz: error: no such script: nope.py"),
    (["pycaffe"], "tunewiz: error: give a SCRIPT to run"),
])
def test_errors_are_one_line(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
