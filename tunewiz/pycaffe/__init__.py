"""pycaffe's Python API on tunewiz."""
