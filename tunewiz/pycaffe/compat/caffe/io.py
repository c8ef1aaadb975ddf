"""pycaffe's ``caffe.io``: the module ``tunewiz.pycaffe.io`` itself, under pycaffe's name."""
import sys

from tunewiz.pycaffe import io as _module

# the import system returns what sys.modules holds once the file has run: one module, two names
sys.modules[__name__] = _module
