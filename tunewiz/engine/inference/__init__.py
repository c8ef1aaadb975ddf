"""Forward-only passes at an inference engine's speed: the net planned into fused steps (``plan``), their
kernels made once with folded, packed weights (``kernels``), kept per net while its weights stay
(``prepared``).  ``infer(net, inputs, keep)`` is the entry point."""
from tunewiz.engine.inference.prepared import forget, infer, preparable, prepared

__all__ = ["forget", "infer", "preparable", "prepared"]
