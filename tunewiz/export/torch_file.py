"""The PyTorch outputs: the ``torch.export`` program (``.pt2``) and the state dict of Caffe's blobs (``.pt``).

* ``.pt2``: ``torch.export.save`` of the program; ``torch.export.load(path).module()(*inputs)`` runs it
  with torch alone (the graph holds only torch ops and the weights).  The inputs come in the deploy's
  Input order, the outputs as a tuple in :data:`BLOBS_FILE`'s order; that file, inside the archive
  (``torch.export.load(path, extra_files={"blobs.json": ""})``), names them.
* ``.pt``: ``torch.save`` of ``{"layer/i": tensor}``, every layer's blobs in Caffe's order (as a
  caffemodel holds them: BatchNorm's mean-sum, var-sum and scale factor unfolded), for people who rebuild
  the net themselves; a layer name may itself hold "/", the blob index is after the last one.
"""
from __future__ import annotations

import json

import torch

BLOBS_FILE = "blobs.json"


def blob_names(inputs: list[str], outputs: list[str]) -> str:
    return json.dumps({"inputs": list(inputs), "outputs": list(outputs)})


def save_program(program, path, inputs: list[str], outputs: list[str]) -> None:
    with open(path, "wb") as handle:  # a handle: torch.export warns about a name not ending in .pt2 (ours, .tmp)
        torch.export.save(program, handle, extra_files={BLOBS_FILE: blob_names(inputs, outputs)})


def load_program(path):
    with open(path, "rb") as handle:
        return torch.export.load(handle)


def state_dict(net) -> dict[str, torch.Tensor]:
    """``{"layer/i": blob}`` for every layer with blobs, in layer then blob order."""
    return {f"{layer.name}/{i}": blob.detach().clone().cpu()
            for layer in net.layers for i, blob in enumerate(layer.blobs)}


def save_state_dict(net, path) -> dict[str, torch.Tensor]:
    tensors = state_dict(net)
    torch.save(tensors, str(path))
    return tensors


def foreign_calls(program) -> list[str]:
    """Graph calls into Python code outside torch (a program that would need tunewiz to run)."""
    found = []
    for node in program.graph.nodes:
        if node.op == "call_function":
            module = getattr(node.target, "__module__", "") or ""
            if not (module.startswith("torch") or module.startswith("_operator") or module == "operator"):
                found.append(f"{module}.{getattr(node.target, '__name__', node.target)}")
    return found
