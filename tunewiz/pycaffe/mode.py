"""pycaffe's module-level switches: phase constants, CPU/GPU mode, the device, the random seed.

Importing this module imports neither torch nor the engine and changes no global state; the mode is
read when a net is made (``device()``), and ``set_random_seed`` seeds torch when it is called, as
``caffe.set_random_seed`` seeds Caffe's generator at once (nets made after it draw their fillers from it).
"""
from __future__ import annotations

from tunewiz.errors import TunewizError

#: Caffe's ``Phase`` enum values (caffe_pb2.TRAIN / caffe_pb2.TEST)
TRAIN = 0
TEST = 1

_state = {"gpu": False, "device": 0, "forward_numerics": "torch"}


def set_mode_cpu() -> None:
    """Nets made from now on run on the CPU (Caffe's ``Caffe::set_mode(CPU)``)."""
    _state["gpu"] = False


def set_mode_gpu() -> None:
    """Nets made from now on run on the GPU chosen by ``set_device`` (default 0)."""
    _state["gpu"] = True


def set_device(device_id: int) -> None:
    """The GPU that ``set_mode_gpu`` nets use (Caffe's ``Caffe::SetDevice``)."""
    if int(device_id) < 0:
        raise TunewizError(f"set_device({device_id}): a GPU number is 0 or more")
    _state["device"] = int(device_id)


def device() -> str:
    """The torch device a net made now runs on: ``"cpu"`` or ``"cuda:N"``."""
    return f"cuda:{_state['device']}" if _state["gpu"] else "cpu"


def set_forward_numerics(numerics: str) -> None:
    """What ``Net.forward`` of a net that needs no backward (a deploy) runs on the CPU: "torch" (default)
    tunewiz's prepared inference path (within 1e-5 of Caffe's sums), "caffe" Caffe's own float32 summation
    order layer by layer (Convolution/InnerProduct blobs equal Caffe's bit for bit; slower).  A tunewiz
    switch: BVLC's pycaffe has no such thing."""
    if numerics not in ("caffe", "torch"):
        raise TunewizError(f"set_forward_numerics({numerics!r}): use 'caffe' or 'torch'")
    _state["forward_numerics"] = numerics


def forward_numerics() -> str:
    """The numerics ``set_forward_numerics`` chose."""
    return _state["forward_numerics"]


def set_random_seed(seed: int) -> None:
    """Seed the generator that fillers (and Dropout) draw from, as ``caffe.set_random_seed``."""
    import torch

    torch.manual_seed(int(seed))


def layer_type_list() -> list[str]:
    """The Caffe layer types tunewiz implements, sorted (pycaffe's ``caffe.layer_type_list()``)."""
    from tunewiz.engine.layers.registry import known_types

    return known_types()
