"""tunewiz: fine-tune Caffe models step by step, trained on PyTorch with Caffe's exact semantics.

The package is also pycaffe's API (``import tunewiz as caffe``): ``Net``, ``Layer``, ``TRAIN``/``TEST``,
``set_mode_cpu``/``set_mode_gpu``/``set_device``, ``set_random_seed``, ``layer_type_list``, ``io``,
``set_forward_numerics`` (tunewiz's: Caffe's summation order for deploy forwards, instead of the fast path),
``coord_map`` and ``draw`` (pycaffe's modules), ``NetSpec``/``layers``/``params``/``to_proto``,
``Classifier``, the six solvers and ``get_solver`` (``tunewiz.pycaffe``); and the fine-tune pipeline:
``FinetuneOptions`` (``tunewiz.recipe``) and ``finetune(options)``, the ``tunewiz finetune --train`` of a
script (``tunewiz.commands.finetune``).
They are loaded on first use (PEP 562), so ``import tunewiz`` imports neither torch nor the engine and
changes no global state.
"""

__version__ = "0.1.0"

#: public name -> the module that defines it
_LAZY = {
    "TRAIN": "tunewiz.pycaffe.mode",
    "TEST": "tunewiz.pycaffe.mode",
    "set_mode_cpu": "tunewiz.pycaffe.mode",
    "set_mode_gpu": "tunewiz.pycaffe.mode",
    "set_device": "tunewiz.pycaffe.mode",
    "set_random_seed": "tunewiz.pycaffe.mode",
    "layer_type_list": "tunewiz.pycaffe.mode",
    "set_forward_numerics": "tunewiz.pycaffe.mode",
    "Net": "tunewiz.pycaffe.net",
    "Layer": "tunewiz.pycaffe.layer",
    "NetSpec": "tunewiz.pycaffe.net_spec",
    "layers": "tunewiz.pycaffe.net_spec",
    "params": "tunewiz.pycaffe.net_spec",
    "to_proto": "tunewiz.pycaffe.net_spec",
    "Classifier": "tunewiz.pycaffe.classifier",
    "SGDSolver": "tunewiz.pycaffe.solver",
    "NesterovSolver": "tunewiz.pycaffe.solver",
    "AdaGradSolver": "tunewiz.pycaffe.solver",
    "RMSPropSolver": "tunewiz.pycaffe.solver",
    "AdaDeltaSolver": "tunewiz.pycaffe.solver",
    "AdamSolver": "tunewiz.pycaffe.solver",
    "get_solver": "tunewiz.pycaffe.solver",
    "FinetuneOptions": "tunewiz.recipe",
    "finetune": "tunewiz.commands.finetune",
}

#: public module name -> the module it is
_MODULES = {"io": "tunewiz.pycaffe.io", "coord_map": "tunewiz.pycaffe.coord_map", "draw": "tunewiz.pycaffe.draw"}

__all__ = ["__version__", *_LAZY, *_MODULES]


def __getattr__(name: str):
    """Load a public name from its module on first use (PEP 562) and keep it."""
    import importlib

    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'tunewiz' has no attribute '{name}'")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_MODULES))
