"""pycaffe's ``caffe.net_spec``: the module ``tunewiz.pycaffe.net_spec`` itself, under pycaffe's name."""
import sys

from tunewiz.pycaffe import net_spec as _module

# the import system returns what sys.modules holds once the file has run: one module, two names
sys.modules[__name__] = _module
