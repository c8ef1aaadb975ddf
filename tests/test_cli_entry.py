"""The command line as a user meets it: entry points, --help of every command, bad input.

``main(argv=None) -> int`` reads ``sys.argv``; ``python -m tunewiz`` and the
``tunewiz`` console script run the same ``main``.  Every file a user can give
by mistake (the wrong kind of Caffe file, a truncated or empty one, a folder, a
pipe, a name the OS refuses) must end in ONE line ``tunewiz: error: …``, a
non-zero exit status, no traceback, and no output file.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tunewiz.cli import COMMANDS, main

FIX = Path(__file__).resolve().parent / "fixtures"
LENET = FIX / "formats" / "lenet"
SCRIPT = Path(sys.executable).with_name("tunewiz")


def test_main_reads_sys_argv(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["tunewiz", "inspect", "--json", str(LENET / "solver.prototxt")])
    assert main() == 0
    assert '"kind": "solver"' in capsys.readouterr().out


@pytest.mark.parametrize("launcher", [[sys.executable, "-m", "tunewiz"], [str(SCRIPT)]], ids=["-m", "script"])
def test_entry_points(launcher, tmp_path):
    if not Path(launcher[0]).exists():
        pytest.skip("console script not installed next to this python")
    ok = subprocess.run(launcher + ["inspect", str(LENET / "lenet_iter_10.caffemodel")], capture_output=True, text=True)
    assert ok.returncode == 0 and "46,074 parameters" in ok.stdout
    bad = subprocess.run(launcher + ["inspect", str(LENET / "nope")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr == f"tunewiz: error: {LENET / 'nope'}: no such file\n"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_of_every_command(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert f"usage: tunewiz {command}" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--bogus"], ["nonsense"], ["inspect", "--bogus", "x"],
                                  ["upgrade-net-text"], ["upgrade-net-binary", "only-one"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2 and "error:" in capsys.readouterr().err


def _bad(tmp_path: Path, kind: str) -> Path:
    model = (LENET / "lenet_iter_10.caffemodel").read_bytes()
    path = tmp_path / f"in_{kind}.caffemodel"
    content = {
        "solverstate": (LENET / "lenet_iter_10.solverstate").read_bytes(),
        "prototxt": (LENET / "train_val.prototxt").read_bytes(),
        "solver": (LENET / "solver.prototxt").read_bytes(),
        "truncated": model[: len(model) // 2],
        "last_byte": model[:-1],
        "empty": b"",
        "noise": bytes(range(256)) * 8,
    }.get(kind)
    if content is not None:
        path.write_bytes(content)
    elif kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "too_long":
        path = tmp_path / ("x" * 300)
    elif kind == "not_a_folder":
        path = LENET / "solver.prototxt" / "x"
    return path


BAD = ["solverstate", "prototxt", "solver", "truncated", "last_byte", "empty", "noise", "folder", "fifo",
       "too_long", "not_a_folder", "missing"]
NEEDLES = {"solverstate": "but this is a solverstate", "prototxt": "but this is a net prototxt",
           "solver": "but this is a solver prototxt", "truncated": "truncated", "last_byte": "truncated",
           "empty": "empty", "noise": "not a file Caffe reads", "folder": "folder", "fifo": "not a regular file",
           "too_long": "File name too long", "not_a_folder": "Not a directory", "missing": "no such file"}


def _one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) != 0
    captured = capsys.readouterr()
    assert captured.err.startswith("tunewiz: error: ") and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    return captured.err


@pytest.mark.parametrize("kind", BAD)
def test_upgrade_net_binary_bad_input(kind, tmp_path, capsys):
    out = tmp_path / "out.caffemodel"
    err = _one_line_error(["upgrade-net-binary", str(_bad(tmp_path, kind)), str(out)], capsys)
    assert NEEDLES[kind] in err
    assert not out.exists()


@pytest.mark.parametrize("kind", [k for k in BAD if k not in ("solverstate", "prototxt", "solver")])
def test_inspect_bad_input(kind, tmp_path, capsys):
    assert NEEDLES[kind] in _one_line_error(["inspect", str(_bad(tmp_path, kind))], capsys)


@pytest.mark.parametrize("command", ["upgrade-net-text", "upgrade-solver-text"])
@pytest.mark.parametrize("kind", ["solverstate", "truncated", "empty", "folder", "fifo", "too_long", "missing"])
def test_upgrade_text_bad_input(command, kind, tmp_path, capsys):
    out = tmp_path / "out.prototxt"
    _one_line_error([command, str(_bad(tmp_path, kind)), str(out)], capsys)
    assert not out.exists()


@pytest.mark.parametrize("target", ["fifo", "folder", "too_long", "no_folder", "slash", "empty"])
def test_bad_output_paths(target, tmp_path, capsys):
    out = {"fifo": tmp_path / "pipe", "folder": tmp_path, "too_long": tmp_path / ("y" * 300),
           "no_folder": tmp_path / "no" / "out.prototxt", "slash": f"{tmp_path / 'new'}/", "empty": ""}[target]
    if target == "fifo":
        os.mkfifo(out)
    src = FIX / "upgrade" / "lenet_v1_deploy.prototxt"
    _one_line_error(["upgrade-net-text", "--force", str(src), str(out)], capsys)
    assert target != "fifo" or not Path(out).is_file()
    assert not (tmp_path / "new").exists()


def test_inspect_empty_name(capsys):
    assert "empty file name" in _one_line_error(["inspect", ""], capsys)


def test_unreadable_file_is_one_line(tmp_path, capsys, monkeypatch):
    """As root chmod 000 does not stop reading, so the OS's refusal is simulated."""
    path = tmp_path / "locked.caffemodel"
    shutil.copy(LENET / "lenet_iter_10.caffemodel", path)
    real_open = os.open

    def refuse(name, *args, **kwargs):
        if str(name) == str(path):
            raise PermissionError(13, "Permission denied", str(name))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    err = _one_line_error(["inspect", str(path)], capsys)
    assert "Permission denied" in err and str(path) in err


def test_non_utf8_names_print_without_a_traceback(tmp_path):
    """learned_net stored as non-UTF-8 bytes, printed through a strict UTF-8 stdout."""
    name = b"snap\xff_iter_3.caffemodel"
    path = tmp_path / "s.solverstate"
    path.write_bytes(b"\x08\x03" + bytes([0x12, len(name)]) + name + b"\x20\x00")
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    for extra in ([], ["--json"]):
        done = subprocess.run([sys.executable, "-m", "tunewiz", "inspect", *extra, str(path)],
                              capture_output=True, text=True, env=env)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert "snap" in done.stdout and "iter" in done.stdout
