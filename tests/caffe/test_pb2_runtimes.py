"""``caffe_pb2`` is runtime-neutral: no version pin, and it works with protobuf 4.25 … 7.x.

The committed module must not import ``google.protobuf.runtime_version`` (protoc's
own output does, and then refuses any older runtime).  Other runtimes are tried
when they are on disk, installed with nothing but pip::

    pip install --target /tmp/pb5.29.6 protobuf==5.29.6      # likewise 4.25.9, 6.33.6
    TUNEWIZ_PROTOBUF_TARGETS=/tmp/pb4.25.9:/tmp/pb5.29.6:/tmp/pb6.33.6 python -m pytest tests/caffe/test_pb2_runtimes.py

(without the variable, ``/tmp/pb*`` folders holding ``google/protobuf`` are used).
Each runs in a subprocess: import, parse and print a prototxt, read and re-write a
caffemodel byte for byte, detect a solverstate.  The installed runtime always runs.
"""
from __future__ import annotations

import ast
import glob
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PB2 = ROOT / "tunewiz" / "caffe" / "caffe_pb2.py"
FIX = ROOT / "tests" / "fixtures"

CHECK = r"""
import sys, tempfile, pathlib
import google.protobuf
from tunewiz.caffe import caffe_pb2, prototxt
from tunewiz.caffe.caffemodel import load_weights, read_net_binary, write_caffemodel
from tunewiz.caffe.detect import detect
from tunewiz.caffe.netio import read_net
fix = pathlib.Path(sys.argv[1])
text = (fix / "prototxt/caffe_printed").glob("net_*.prototxt")
for path in sorted(text)[:5]:
    assert prototxt.to_text(prototxt.parse_text(path.read_text(), caffe_pb2.NetParameter())) == path.read_text(), path
net = read_net(fix / "upgrade/lenet_v1_train_val.prototxt")
assert net.layer[2].param[0].lr_mult == 1 and net.layer[2].type == "Convolution"
model = fix / "formats/lenet/lenet_iter_10.caffemodel"
out = pathlib.Path(tempfile.mkdtemp()) / "m.caffemodel"
write_caffemodel(out, read_net_binary(model))
assert out.read_bytes() == model.read_bytes()
assert load_weights(fix / "formats/v1/lenet_v1.caffemodel").format == "V1"
assert detect(fix / "formats/lenet/lenet_iter_10.solverstate").kind == "solverstate"
assert caffe_pb2.SolverParameter().type == "SGD"
print(google.protobuf.__version__, google.protobuf.__file__)
"""


def test_pb2_has_no_runtime_version_pin():
    tree = ast.parse(PB2.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    assert imported == {"google.protobuf.descriptor_pool", "google.protobuf.internal.builder"}
    assert "runtime_version" not in PB2.read_text() and "ValidateProtobufRuntimeVersion" not in PB2.read_text()


def _targets() -> list[str]:
    listed = os.environ.get("TUNEWIZ_PROTOBUF_TARGETS")
    found = listed.split(os.pathsep) if listed else sorted(glob.glob("/tmp/pb*"))
    return [t for t in found if t and (Path(t) / "google" / "protobuf" / "__init__.py").is_file()]


def _run(pythonpath: str | None) -> str:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + str(ROOT)
    result = subprocess.run([sys.executable, "-c", CHECK, str(FIX)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_installed_runtime():
    import google.protobuf

    assert _run(None).split()[0] == google.protobuf.__version__


@pytest.mark.parametrize("target", _targets() or [pytest.param(None, marks=pytest.mark.skip(
    reason="no other protobuf runtime on disk (pip install --target /tmp/pbX.Y.Z protobuf==X.Y.Z)"))])
def test_other_runtime(target):
    version, location = _run(target).split()
    assert location.startswith(target), "the runtime under test was not the one imported"
    match = re.search(r"pb(\d+\.\d+\.\d+)", target)
    if match:
        assert version == match.group(1)
