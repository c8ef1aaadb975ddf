"""The ``export`` extra: ONNX output needs onnx, onnxruntime (the check after writing) and onnxscript
(torch.onnx's exporter); without them, one line naming the pip command."""
from __future__ import annotations

import importlib.util

from tunewiz.export.errors import ExportError

ONNX_MODULES = ("onnx", "onnxruntime", "onnxscript")
PIP = "pip install 'tunewiz[export]'"
#: the ONNX opset written (here, not in onnx_file, so that --help needs no torch)
OPSET = 18


def require_onnx() -> None:
    missing = [name for name in ONNX_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"--onnx needs {', '.join(missing)} (not installed): {PIP}")
