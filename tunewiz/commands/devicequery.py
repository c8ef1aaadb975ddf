"""``tunewiz device-query [-gpu 0|0,1|all]``: a CUDA device's properties, like ``caffe device_query``.

Caffe's ``Caffe::DeviceQuery`` (src/caffe/common.cpp) logs one ``Label: value`` line per field of
``cudaDeviceProp``; this prints the same labels, in the same order, from
``torch.cuda.get_device_properties`` — the fields torch does not expose (memory pitch, texture
alignment, grid size, ...) are left out rather than guessed.  Without ``-gpu`` every device is
listed (caffe lists none).  No CUDA device: one line saying so, exit status 1.
"""
from __future__ import annotations

import argparse

from tunewiz.commands.train import gpu_ids
from tunewiz.errors import TunewizError

# Caffe's label -> the attribute of torch's device properties (None: computed below); torch versions
# differ in what they expose, so a missing attribute skips its line
FIELDS: tuple[tuple[str, str | None], ...] = (
    ("Device id", None),
    ("Major revision number", "major"),
    ("Minor revision number", "minor"),
    ("Name", "name"),
    ("Total global memory", "total_memory"),
    ("Total shared memory per block", "shared_memory_per_block"),
    ("Warp size", "warp_size"),
    ("Clock rate", "clock_rate"),  # kHz, as cudaDeviceProp.clockRate
    ("Number of multiprocessors", "multi_processor_count"),
    # not in Caffe's list, but what torch tells and a fine-tune's batch size depends on
    ("Shared memory per multiprocessor", "shared_memory_per_multiprocessor"),
    ("Max threads per multiprocessor", "max_threads_per_multi_processor"),
    ("L2 cache size", "L2_cache_size"),
    ("Memory clock rate", "memory_clock_rate"),
    ("Memory bus width", "memory_bus_width"),
    ("Integrated", "is_integrated"),
)


class NoCuda(TunewizError):
    """device-query without a CUDA device: nothing to query (exit 1, like a failed query)."""

    exit_code = 1


def add_arguments(parser: argparse.ArgumentParser, name: str = "device-query") -> None:
    parser.add_argument("--gpu", type=gpu_ids, default="all",
                        help="device id(s) to query: 0, 0,1 or all (default: all)")


def _ids(gpu: str, count: int) -> list[int]:
    ids = list(range(count)) if gpu == "all" else [int(g) for g in gpu.split(",") if g.strip()]
    bad = [i for i in ids if i >= count]
    if bad:
        raise TunewizError(f"-gpu {gpu}: no GPU {bad[0]}; this machine has {count} CUDA device(s), "
                           f"ids 0 to {count - 1}")
    return ids


def _value(attr: str | None, value) -> str:
    if attr and attr.startswith("is_"):  # Caffe prints its yes/no fields as Yes/No (torch gives 0/1)
        return "Yes" if value else "No"
    return str(value)


def describe(device: int, props) -> list[str]:
    """Caffe's DeviceQuery lines for one device (label padded to Caffe's column)."""
    lines = []
    for label, attr in FIELDS:
        value = device if attr is None else getattr(props, attr, None)
        if value is not None:
            lines.append(f"{label + ':':<30} {_value(attr, value)}")
    return lines


def run(args: argparse.Namespace) -> int:
    import torch

    if not torch.cuda.is_available():
        why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA device or driver found"
        raise NoCuda(f"no CUDA device to query ({why}); tunewiz runs on the CPU here.")
    print(f"Querying GPUs {args.gpu}")
    for device in _ids(args.gpu, torch.cuda.device_count()):
        for line in describe(device, torch.cuda.get_device_properties(device)):
            print(line)
    return 0
