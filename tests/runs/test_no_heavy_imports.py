"""``tunewiz.runs`` stays light: imported in a fresh interpreter (the package and each of its modules), it
loads neither torch nor textual, directly or through what it imports."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tunewiz.runs

MODULES = ["tunewiz.runs"] + sorted(f"tunewiz.runs.{p.stem}" for p in Path(tunewiz.runs.__file__).parent.glob("*.py")
                                    if p.stem != "__init__")
HEAVY = ("torch", "textual")
PROBE = ("import importlib, sys; importlib.import_module(sys.argv[1]); "
         "print(' '.join(m for m in sys.modules if m.split('.')[0] in sys.argv[2:]))")


def test_the_package_has_its_modules():
    assert {"tunewiz.runs.layout", "tunewiz.runs.events", "tunewiz.runs.follow", "tunewiz.runs.launch"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_import_loads_neither_torch_nor_textual(module):
    env = {**os.environ, "PYTHONPATH": str(Path(tunewiz.runs.__file__).parents[2])}
    out = subprocess.run([sys.executable, "-c", PROBE, module, *HEAVY], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [], f"{module} loads {out.stdout.strip()}"


def test_the_probe_sees_a_heavy_import():
    """The check itself: a module that imports textual is caught."""
    out = subprocess.run([sys.executable, "-c", PROBE, "textual.message", *HEAVY], capture_output=True, text=True,
                         timeout=120)
    assert "textual" in out.stdout.split()
