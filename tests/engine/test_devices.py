"""The GPUs this machine shows (names, memory) and ``-gpu``'s ids, with torch.cuda faked (no GPU needed)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tunewiz.engine import devices
from tunewiz.errors import TunewizError


def _fake_cuda(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: SimpleNamespace(name=f"Fake GPU {i}", total_memory=(16 + 8 * i) << 30))


def test_visible_gpus_names_and_memory(monkeypatch):
    _fake_cuda(monkeypatch, 2)
    gpus = devices.visible_gpus()
    assert [(g.index, g.name, g.total) for g in gpus] == [(0, "Fake GPU 0", 16 << 30), (1, "Fake GPU 1", 24 << 30)]
    assert gpus[1].label().startswith("GPU 1: Fake GPU 1, 24")
    _fake_cuda(monkeypatch, 0)
    assert devices.visible_gpus() == []


def test_gpu_ids_and_ranks(monkeypatch):
    _fake_cuda(monkeypatch, 2)
    assert devices.gpu_list("all") == [0, 1] and devices.gpu_list("1") == [1]
    assert devices.rank_count("all") == 2 and devices.rank_count("0,1") == 2
    with pytest.raises(TunewizError, match="there is no GPU 2; this machine has 2"):
        devices.gpu_list("0,2")
    _fake_cuda(monkeypatch, 0)  # without CUDA: as many CPU ranks as ids (gloo), 'all' is one
    assert devices.rank_count("0,1") == 2 and devices.rank_count("all") == 1
