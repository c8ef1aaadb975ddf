"""The bundled samples, shipped inside the package (package data), so any install finds them.

``lenet_digits/``: LeNet pretrained on digits 0-4, with the images of digits 5-9 to fine-tune it on
(its README says how it was made and what fine-tuning it gives).  The wizard's first choice opens it.
"""
from __future__ import annotations

from pathlib import Path

LENET_DIGITS = Path(__file__).resolve().parent / "lenet_digits"
