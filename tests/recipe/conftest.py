"""Helpers for the recipe tests: read the fixture nets."""
from pathlib import Path

import pytest

from tunewiz.caffe.prototxt import read_net_text

FIX = Path(__file__).parent.parent / "fixtures" / "recipe"


@pytest.fixture
def net():
    """Read a fixture net by file name."""
    return lambda name: read_net_text(FIX / name)
