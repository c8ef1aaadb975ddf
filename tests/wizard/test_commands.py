"""``tunewiz attach`` and ``tunewiz serve``: clear messages instead of tracebacks."""
from __future__ import annotations

import importlib.util

import pytest

from tunewiz.cli import main


def test_attach_needs_a_run_folder(tmp_path, capsys):
    assert main(["attach", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "holds no events.jsonl and no trainer runs there" in err and "Traceback" not in err


def test_attach_takes_a_folder_whose_trainer_has_not_written_its_first_event(tmp_path, monkeypatch):
    """Attaching right after starting a trainer in the background: it holds the folder, events.jsonl is to come."""
    from tunewiz.commands import wizard
    from tunewiz.runs.lock import lock_folder

    opened = []
    monkeypatch.setattr(wizard, "_run_app", lambda app: opened.append(app) or 0)
    with lock_folder(tmp_path, str):
        assert main(["attach", str(tmp_path)]) == 0
    assert [app.attach_dir for app in opened] == [tmp_path.resolve()]


def test_attach_refuses_a_folder_whose_trainer_is_gone(tmp_path, capsys):
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "train.pid").write_text(gone.stdout)
    (tmp_path / "tunewiz.lock").write_text("{}")  # left by a killed trainer: nobody holds it
    assert main(["attach", str(tmp_path)]) == 2
    assert "no trainer runs there" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("textual_serve") is not None, reason="textual-serve is installed")
def test_serve_without_textual_serve_says_how_to_install(capsys):
    assert main(["serve", "--port", "8765"]) == 2
    err = capsys.readouterr().err
    assert "pip install" in err and "textual-serve" in err


def test_serve_binds_to_localhost_by_default():
    import argparse

    from tunewiz.commands import wizard

    parser = argparse.ArgumentParser()
    wizard.add_arguments(parser, "serve")
    args = parser.parse_args([])
    assert args.host == "127.0.0.1"


@pytest.mark.parametrize("argv,host", [(["serve"], "127.0.0.1"), (["serve", "--host", "0.0.0.0"], "0.0.0.0")])
def test_serve_hands_the_host_to_textual_serve(monkeypatch, capsys, argv, host):
    """The address reaches textual-serve's Server: this machine only unless --host says otherwise."""
    import sys
    import types

    seen = {}

    class Server:
        def __init__(self, command, host, port, title):
            seen.update(command=command, host=host, port=port)

        def serve(self):
            seen["served"] = True

    pkg, mod = types.ModuleType("textual_serve"), types.ModuleType("textual_serve.server")
    mod.Server = Server
    monkeypatch.setitem(sys.modules, "textual_serve", pkg)
    monkeypatch.setitem(sys.modules, "textual_serve.server", mod)
    assert main(argv) == 0
    assert seen["host"] == host and seen["port"] == 8000 and seen["served"] and "-m tunewiz" in seen["command"]
    assert f"http://{host}:8000" in capsys.readouterr().out
