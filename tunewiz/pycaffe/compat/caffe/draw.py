"""pycaffe's ``caffe.draw``: the module ``tunewiz.pycaffe.draw`` itself, under pycaffe's name."""
import sys

from tunewiz.pycaffe import draw as _module

# the import system returns what sys.modules holds once the file has run: one module, two names
sys.modules[__name__] = _module
