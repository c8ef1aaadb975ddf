"""``tunewiz device-query`` (caffe device_query) and Caffe's tool names as aliases of our commands.

The CUDA branch runs on fake device properties, so the test is the same on any machine.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from tunewiz.cli import ALIASES, COMMANDS, _top_parser, main

FAKE = SimpleNamespace(name="Fake GPU", major=9, minor=0, total_memory=150 * 2**30, multi_processor_count=132,
                       is_integrated=0, warp_size=32)


@pytest.fixture
def cuda(monkeypatch):
    """Two fake CUDA devices."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: FAKE)


@pytest.mark.parametrize("argv", [["device-query", "-gpu", "1"], ["device_query", "-gpu=1"]])
def test_one_device_in_caffes_labels(argv, cuda, capsys):
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Querying GPUs 1"
    assert out[1:6] == ["Device id:                     1", "Major revision number:         9",
                        "Minor revision number:         0", "Name:                          Fake GPU",
                        f"Total global memory:           {150 * 2**30}"]
    assert "Warp size:                     32" in out and "Number of multiprocessors:     132" in out
    assert "Integrated:                    No" in out


@pytest.mark.parametrize("gpu,ids", [("all", [0, 1]), ("0,1", [0, 1]), ("0", [0])])
def test_several_devices(gpu, ids, cuda, capsys):
    assert main(["device-query", "-gpu", gpu]) == 0
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines() if line.startswith("Device id")] == \
        [str(i) for i in ids]


def test_a_device_that_is_not_there(cuda, capsys):
    assert main(["device-query", "-gpu", "0,2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no GPU 2" in err and "2 CUDA device(s)" in err


def test_without_cuda_one_line_exit_1(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["device_query", "-gpu", "0"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("tunewiz: error: no CUDA device to query")


def test_aliases_name_our_commands_and_stay_out_of_help(capsys):
    assert set(ALIASES.values()) <= set(COMMANDS) and not set(ALIASES) & set(COMMANDS)
    choices = next(a for a in _top_parser()._actions if a.dest == "command").choices
    assert set(choices) == set(COMMANDS)


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_each_alias_runs_its_command(alias, capsys):
    with pytest.raises(SystemExit) as done:
        main([alias, "--help"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith(f"usage: tunewiz {ALIASES[alias]}")
