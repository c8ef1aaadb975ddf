"""Export a Caffe net with its weights for use without tunewiz: ONNX, a ``torch.export`` program, a state dict.

Layers whose Caffe numbers have no direct equivalent are exported with the same numbers (folded, padded or
decomposed), or the export stops naming the layer and why: never a silent numeric change.
"""
