"""tunewiz.engine.dist alone (world of 1) and torchrun's environment; the ranks themselves run in
tests/commands/test_ranks.py."""
import numpy as np
import pytest

from tunewiz.engine import dist
from tunewiz.errors import TunewizError


def test_alone_every_collective_is_a_no_op():
    world = dist.ALONE
    assert world.root and world.shard is None
    assert world.mean_loss(np.float32(1.5)) == np.float32(1.5)
    assert world.requests(True, False) == (True, False) and world.agree(True)
    world.reduce_gradients([])
    world.broadcast_params([])


def test_env_world_reads_torchruns_variables(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert dist.env_world() is None
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert dist.env_world() == (3, 4, 1)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(TunewizError, match="outside WORLD_SIZE 4"):
        dist.env_world()


def test_a_failed_collective_is_one_message():
    def fail():
        raise RuntimeError("[../third_party/gloo/transport/tcp/pair.cc:598] Connection closed by peer\nmore")

    with pytest.raises(dist.RankLost, match="another rank of this run stopped.*Connection closed by peer"):
        dist._collective(fail)
