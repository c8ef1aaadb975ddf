"""``tunewiz attach`` and ``tunewiz serve``: clear messages instead of tracebacks."""
from __future__ import annotations

import importlib.util

import pytest

from tunewiz.cli import main


def test_attach_needs_a_run_folder(tmp_path, capsys):
    assert main(["attach", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "holds no events.jsonl" in err and "Traceback" not in err


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
