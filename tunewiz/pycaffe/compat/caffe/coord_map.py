"""pycaffe's ``caffe.coord_map``: the module ``tunewiz.pycaffe.coord_map`` itself, under pycaffe's name."""
import sys

from tunewiz.pycaffe import coord_map as _module

# the import system returns what sys.modules holds once the file has run: one module, two names
sys.modules[__name__] = _module
