"""pycaffe's ``caffe.classifier``: the module ``tunewiz.pycaffe.classifier`` itself, under pycaffe's name."""
import sys

from tunewiz.pycaffe import classifier as _module

# the import system returns what sys.modules holds once the file has run: one module, two names
sys.modules[__name__] = _module
