"""``tunewiz test|time --iterations`` at or below 0 is one line; SIGTERM's effect is what --sigterm_effect says."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from tunewiz.cli import command_parser, main
from tunewiz.commands.train import _signals

NET = Path(__file__).resolve().parents[1] / "fixtures" / "training" / "sgd_inv" / "train_val.prototxt"


@pytest.mark.parametrize("argv", [["test", "--model", str(NET), "--weights", "w.caffemodel", "--iterations", "-3"],
                                  ["time", "--model", str(NET), "--iterations", "0"],
                                  ["time", "-model", str(NET), "-iterations=-1"]])
def test_iterations_at_or_below_zero_are_one_line(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"tunewiz: error: --iterations {argv[-1].split('=')[-1]}: give a number of iterations above 0")
    assert os.listdir(tmp_path) == []


def test_sigterm_effect_flag_forms():
    parse = command_parser("train").parse_args
    assert parse(["-solver", "s"]).sigterm_effect == "stop"  # Caffe's SIGINT: a snapshot, then stop
    assert parse(["-solver", "s", "-sigterm_effect=none"]).sigterm_effect == "none"
    assert parse(["-solver", "s", "-sigterm_effect", "snapshot"]).sigterm_effect == "snapshot"
    with pytest.raises(SystemExit):
        parse(["-solver", "s", "-sigterm_effect", "quit"])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("effect", ["stop", "snapshot", "none"])
def test_sigterm_does_what_the_flag_says(effect):
    stop, snap = threading.Event(), threading.Event()
    before = signal.getsignal(signal.SIGTERM)
    restore = _signals(argparse.Namespace(sigint_effect="stop", sighup_effect="snapshot", sigterm_effect=effect),
                       stop, snap)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert (stop.is_set(), snap.is_set()) == (effect == "stop", effect == "snapshot")
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) is before
