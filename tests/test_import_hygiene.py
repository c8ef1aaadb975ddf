"""The core never imports the UI: importing any core module must not load textual or tunewiz.wizard.

Each check runs in a fresh interpreter.  Besides the packages themselves, every
module under ``tunewiz.caffe``, ``.data``, ``.engine``, ``.recipe`` and
``tunewiz.commands`` is found with :mod:`pkgutil` and imported one after the other;
the first one that pulls in textual is named.
"""
import subprocess
import sys

import pytest

CORE = ["tunewiz.caffe", "tunewiz.caffe.prototxt", "tunewiz.data", "tunewiz.engine", "tunewiz.recipe", "tunewiz.cli",
        "tunewiz.pycaffe.net"]
WALKED = ["tunewiz.caffe", "tunewiz.data", "tunewiz.engine", "tunewiz.recipe", "tunewiz.commands", "tunewiz.pycaffe"]

_BAD = "[m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'tunewiz.wizard'))]"


@pytest.mark.parametrize("module", CORE)
def test_core_does_not_import_textual(module):
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        f"bad = {_BAD}\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_core_module_is_free_of_textual():
    code = (
        "import importlib, pkgutil, sys\n"
        f"names = []\n"
        f"for package in {WALKED!r}:\n"
        "    pkg = importlib.import_module(package)\n"
        "    names += [m.name for m in pkgutil.walk_packages(pkg.__path__, package + '.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        f"    bad = {_BAD}\n"
        "    assert not bad, f'{name} imports {bad[:3]}'\n"
        "print(len(names))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) > 40  # the walk really found the modules
