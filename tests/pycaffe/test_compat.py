"""The ``caffe`` compatibility package (``tunewiz/pycaffe/compat/caffe``): pycaffe's module names on tunewiz.

Each check runs in a fresh interpreter with the folder on PYTHONPATH (as ``tunewiz pycaffe --path``
documents), so this test process never imports a ``caffe``.
"""
import os
import subprocess
import sys
from pathlib import Path

COMPAT = Path(__file__).resolve().parents[2] / "tunewiz" / "pycaffe" / "compat"


def _python(code: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(COMPAT), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_folder_holds_only_the_caffe_package():
    assert not (COMPAT / "__init__.py").exists()  # a folder for sys.path, not a package of tunewiz's API
    assert sorted(p.name for p in COMPAT.iterdir() if p.name != "__pycache__") == ["caffe"]


def test_caffe_gives_tunewizs_top_level_names_and_stays_light():
    out = _python(
        "import sys, caffe, tunewiz\n"
        "assert caffe.__file__.startswith(%r), caffe.__file__\n"
        "assert 'torch' not in sys.modules\n"
        "missing = [n for n in tunewiz.__all__ if getattr(caffe, n) is not getattr(tunewiz, n)]\n"
        "assert not missing, missing\n"
        "assert set(tunewiz.__all__) <= set(dir(caffe)) and caffe.__all__ == tunewiz.__all__\n"
        "print(caffe.TRAIN, caffe.TEST, caffe.Classifier.__mro__[1] is caffe.Net)\n" % str(COMPAT))
    assert out.split() == ["0", "1", "True"]


def test_submodules_are_tunewizs_modules_under_pycaffes_names():
    out = _python(
        "import sys, caffe, tunewiz\n"
        "from caffe.proto import caffe_pb2\n"
        "import caffe.io, caffe.net_spec, caffe.classifier, caffe.draw\n"
        "from caffe.coord_map import crop\n"
        "from caffe import layers as L, params as P\n"
        "import tunewiz.caffe.caffe_pb2, tunewiz.pycaffe.net_spec, tunewiz.pycaffe.classifier\n"
        "import tunewiz.pycaffe.coord_map, tunewiz.pycaffe.draw\n"
        "assert caffe.draw is tunewiz.draw is tunewiz.pycaffe.draw and 'pydot' not in sys.modules\n"
        "assert crop is tunewiz.coord_map.crop and caffe.coord_map is tunewiz.pycaffe.coord_map\n"
        "assert caffe_pb2 is tunewiz.caffe.caffe_pb2 and caffe.proto.caffe_pb2 is caffe_pb2\n"
        "assert caffe.io is tunewiz.io and caffe.net_spec is tunewiz.pycaffe.net_spec\n"
        "assert caffe.classifier.Classifier is caffe.Classifier\n"
        "n = caffe.NetSpec()\n"
        "n.data = L.Input(shape=dict(dim=[1, 3, 4, 4]))\n"
        "n.out = L.Pooling(n.data, pool=P.Pooling.MAX, kernel_size=2)\n"
        "net = caffe_pb2.NetParameter()\n"
        "net.CopyFrom(n.to_proto())\n"
        "print(net.layer[1].pooling_param.pool == caffe_pb2.PoolingParameter.MAX)\n")
    assert out.strip() == "True"


def test_a_name_caffe_lacks_is_an_attribute_error():
    out = _python(
        "import caffe\n"
        "try:\n"
        "    caffe.nope\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n")
    assert out.strip() == "module 'caffe' (tunewiz's compatibility package) has no attribute 'nope'"
