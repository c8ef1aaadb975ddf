"""Only tunewiz.wizard (and the command that opens it) imports textual; the first screen needs no torch."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tunewiz"
IMPORT_TEXTUAL = re.compile(r"^\s*(from|import)\s+textual", re.M)


def test_only_the_wizard_imports_textual():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("wizard/") or rel == "commands/wizard.py":  # the wizard and its command
            continue
        source = path.read_text(encoding="utf-8")
        if IMPORT_TEXTUAL.search(source) or "textual_plotext" in source:
            offenders.append(rel)
        if rel != "commands/wizard.py" and re.search(r"^\s*(from|import)\s+tunewiz\.wizard", source, re.M):
            offenders.append(rel)
    assert offenders == []


def test_the_wizard_command_module_loads_textual_only_when_run():
    code = ("import sys\nimport tunewiz.cli, tunewiz.commands.wizard\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'textual_serve', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_opening_the_wizard_does_not_load_torch_or_plotext():
    code = ("import sys\nfrom tunewiz.wizard.app import WizardApp\nimport tunewiz.wizard.screens.welcome\n"
            "print(sorted(m for m in ('torch', 'plotext', 'textual_plotext', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
