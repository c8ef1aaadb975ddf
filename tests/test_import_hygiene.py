"""The core never imports the UI: importing it must not load textual."""
import subprocess
import sys

import pytest

CORE = ["tunewiz.caffe", "tunewiz.caffe.prototxt", "tunewiz.data", "tunewiz.engine", "tunewiz.recipe", "tunewiz.cli"]


@pytest.mark.parametrize("module", CORE)
def test_core_does_not_import_textual(module):
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'tunewiz.wizard'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
