"""tunewiz: fine-tune Caffe models step by step, trained on PyTorch with Caffe's exact semantics."""

__version__ = "0.1.0"
