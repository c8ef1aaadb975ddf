"""``tunewiz download-model MODEL_DIR`` (Caffe's scripts/download_model_binary.py) against a server on 127.0.0.1.

The final ``<caffemodel>`` name only ever holds a file whose sha1 is the readme's; the bytes collect in
``<caffemodel>.part``, which a later run resumes (HTTP Range) and which is kept only when it can be resumed.
"""
from __future__ import annotations

import hashlib
import os
import socket
import sys
from pathlib import Path

import pytest

from tunewiz.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from zoo_server import ZooServer  # noqa: E402

PAYLOAD = os.urandom(150_000)
SHA1 = hashlib.sha1(PAYLOAD).hexdigest()
NAME = "tiny.caffemodel"


@pytest.fixture
def server():
    with ZooServer(PAYLOAD) as zoo:
        yield zoo


def _folder(tmp_path, url: str, sha1: str = SHA1, extra: str = ""):
    """A Model Zoo folder as Caffe's are: a readme.md whose front matter names the caffemodel."""
    folder = tmp_path / "tiny_net"
    folder.mkdir(exist_ok=True)
    (folder / "readme.md").write_text(f"---\nname: Tiny Net\ncaffemodel: {NAME}\ncaffemodel_url: {url}\n"
                                      f"license: unrestricted\nsha1: {sha1}\n{extra}---\n\nA tiny net.\n")
    return folder


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _error_line(err: str) -> str:
    """The one error line (the lines before it tell progress)."""
    lines = [line for line in err.splitlines() if line.startswith("tunewiz: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_good_download_is_checked_then_named(tmp_path, server, capsys):
    folder = _folder(tmp_path, server.url())
    code, out, err = _run(capsys, "download-model", str(folder))
    assert code == 0, err
    assert (folder / NAME).read_bytes() == PAYLOAD and not (folder / f"{NAME}.part").exists()
    assert f"150,000 bytes, sha1 {SHA1}" in out and "100%" in err and "146.5/146.5 KiB" in err
    assert server.ranges == [None]


@pytest.mark.parametrize("alias", ["download_model_binary.py", "download_model_binary"])
def test_caffes_script_name_runs_it(alias, tmp_path, server, capsys):
    folder = _folder(tmp_path, server.url())
    assert _run(capsys, alias, str(folder))[0] == 0 and (folder / NAME).read_bytes() == PAYLOAD


def test_a_cut_is_kept_and_the_next_run_resumes_it(tmp_path, server, capsys):
    server.cut_after = 40_000
    folder = _folder(tmp_path, server.url())
    code, out, err = _run(capsys, "download-model", str(folder), "-retries", "0")
    line = _error_line(err)
    assert code == 1 and not (folder / NAME).exists()
    part = folder / f"{NAME}.part"
    assert part.read_bytes() == PAYLOAD[:40_000]
    assert "closed the connection after 40,000 of 150,000 bytes" in line and f"kept in {part}" in line
    code, out, err = _run(capsys, "download-model", str(folder))
    assert code == 0, err
    assert (folder / NAME).read_bytes() == PAYLOAD and not part.exists()
    assert server.ranges == [None, "bytes=40000-"] and "resuming" in err


def test_a_cut_is_resumed_at_once(tmp_path, server, capsys):
    server.cut_after, server.cuts = 30_000, 2
    folder = _folder(tmp_path, server.url())
    code, out, err = _run(capsys, "download-model", str(folder))
    assert code == 0, err
    assert (folder / NAME).read_bytes() == PAYLOAD
    assert server.ranges == [None, "bytes=30000-", "bytes=60000-"]
    assert "resuming at byte 30,000 (retry 1 of 3)" in err


def test_a_server_that_ignores_range_starts_over(tmp_path, server, capsys):
    server.honour_range = False
    folder = _folder(tmp_path, server.url())
    (folder / f"{NAME}.part").write_bytes(b"\0" * 5000)  # not even the file's bytes: all replaced
    code, out, err = _run(capsys, "download-model", str(folder))
    assert code == 0, err
    assert (folder / NAME).read_bytes() == PAYLOAD and not (folder / f"{NAME}.part").exists()
    assert server.ranges == ["bytes=5000-"] and "ignores HTTP Range): starting over" in err


def test_a_complete_partial_is_checked_without_downloading_again(tmp_path, server, capsys):
    folder = _folder(tmp_path, server.url())
    (folder / f"{NAME}.part").write_bytes(PAYLOAD)  # a run stopped between the last byte and the rename
    code, out, err = _run(capsys, "download-model", str(folder))
    assert code == 0, err
    assert (folder / NAME).read_bytes() == PAYLOAD and server.ranges == ["bytes=150000-"]


def test_a_partial_longer_than_the_file_starts_over(tmp_path, server, capsys):
    folder = _folder(tmp_path, server.url())
    (folder / f"{NAME}.part").write_bytes(PAYLOAD + b"junk")
    assert _run(capsys, "download-model", str(folder))[0] == 0
    assert (folder / NAME).read_bytes() == PAYLOAD and server.ranges == ["bytes=150004-", None]


def test_a_wrong_sha1_leaves_no_file(tmp_path, server, capsys):
    server.content_type = "text/html; charset=utf-8"
    folder = _folder(tmp_path, server.url(), sha1="0" * 40)
    code, out, err = _run(capsys, "download-model", str(folder))
    line = _error_line(err)
    assert code == 1 and sorted(p.name for p in folder.iterdir()) == ["readme.md"]
    assert f"sha1 {SHA1}, not {'0' * 40}" in line and f"{NAME} was not written" in line
    assert "a web page, not the model" in line


def test_a_wrong_sha1_with_force_keeps_the_users_file(tmp_path, server, capsys):
    folder = _folder(tmp_path, server.url(), sha1="1" * 40)
    (folder / NAME).write_bytes(b"the user's own")
    code, out, err = _run(capsys, "download-model", str(folder), "--force")
    assert code == 1 and "the file already there is kept" in _error_line(err)
    assert (folder / NAME).read_bytes() == b"the user's own" and not (folder / f"{NAME}.part").exists()


def test_a_dead_link_is_one_line(tmp_path, server, capsys):
    folder = _folder(tmp_path, server.url("/missing"))
    code, out, err = _run(capsys, "download-model", str(folder))
    line = _error_line(err)
    assert code == 1 and "HTTP 404 Not Found: the link is dead" in line and "readme.md's caffemodel_url" in line
    assert sorted(p.name for p in folder.iterdir()) == ["readme.md"] and "kept" not in line


def test_a_dead_link_keeps_an_earlier_partial(tmp_path, server, capsys):
    folder = _folder(tmp_path, server.url("/missing"))
    (folder / f"{NAME}.part").write_bytes(PAYLOAD[:1000])
    code, out, err = _run(capsys, "download-model", str(folder))
    assert code == 1 and f"the 1,000 bytes received are kept in {folder / (NAME + '.part')}" in _error_line(err)
    assert (folder / f"{NAME}.part").read_bytes() == PAYLOAD[:1000]


def test_a_refused_connection_is_one_line(tmp_path, capsys):
    with socket.socket() as closed:  # bound but not listening: every connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        folder = _folder(tmp_path, f"http://127.0.0.1:{port}/m.caffemodel")
        code, out, err = _run(capsys, "download-model", str(folder))
    assert code == 1 and f"connection refused by 127.0.0.1:{port}" in _error_line(err)
    assert sorted(p.name for p in folder.iterdir()) == ["readme.md"]


def test_an_unknown_host_is_one_line(tmp_path, capsys, monkeypatch):
    def no_dns(*args, **kwargs):  # no lookup leaves this machine
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    folder = _folder(tmp_path, "http://dl.example.invalid/m.caffemodel")
    code, out, err = _run(capsys, "download-model", str(folder))
    assert code == 1 and "cannot resolve the host of dl.example.invalid" in _error_line(err)


def test_a_silent_server_times_out(tmp_path, server, capsys):
    server.stall_before = True
    folder = _folder(tmp_path, server.url())
    code, out, err = _run(capsys, "download-model", str(folder), "-timeout", "0.3")
    assert code == 1 and "no data from 127.0.0.1" in _error_line(err) and "for 0.3 s (a timeout" in err
    assert sorted(p.name for p in folder.iterdir()) == ["readme.md"]


def test_a_stall_mid_file_is_resumed_or_kept(tmp_path, server, capsys):
    server.stall_after = 20_000
    folder = _folder(tmp_path, server.url())
    code, out, err = _run(capsys, "download-model", str(folder), "-timeout", "0.3", "-retries", "0")
    line = _error_line(err)
    assert code == 1 and "broke after 20,000 bytes (no data from" in line and "run the same command to resume" in line
    server.stall_after = 20_000
    code, out, err = _run(capsys, "download-model", str(folder), "-timeout", "0.3")
    assert code == 0, err
    assert (folder / NAME).read_bytes() == PAYLOAD
    assert server.ranges == [None, "bytes=20000-", "bytes=40000-"]


def test_an_existing_good_file_is_not_downloaded(tmp_path, server, capsys):
    folder = _folder(tmp_path, server.url())
    (folder / NAME).write_bytes(PAYLOAD)
    code, out, err = _run(capsys, "download-model", str(folder))
    assert code == 0 and out.startswith("Model already exists") and server.ranges == []


def test_an_existing_other_file_is_kept_unless_force(tmp_path, server, capsys):
    folder = _folder(tmp_path, server.url())
    (folder / NAME).write_bytes(b"an older release")
    code, out, err = _run(capsys, "download-model", str(folder))
    line = _error_line(err)
    assert code == 2 and "kept it. Give --force" in line and server.ranges == []
    assert (folder / NAME).read_bytes() == b"an older release"
    assert _run(capsys, "download-model", str(folder), "-force")[0] == 0
    assert (folder / NAME).read_bytes() == PAYLOAD


def test_a_second_download_into_the_same_folder_is_refused(tmp_path, server, capsys):
    fcntl = pytest.importorskip("fcntl")
    folder = _folder(tmp_path, server.url())
    part = folder / f"{NAME}.part"
    with open(part, "ab") as other:  # the other download has only just begun: its file is empty
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        code, out, err = _run(capsys, "download-model", str(folder))
        assert part.exists()
    assert code == 1 and f"tunewiz: error: {part}: another download is writing this file" in _error_line(err)
    assert server.ranges == []


@pytest.mark.parametrize("readme, says", [
    (None, "no readme.md"),
    ("# Tiny net\n\nNo front matter here.\n", "no front matter"),
    ("---\nname: x\ncaffemodel: a.caffemodel\n", "no front matter"),  # never closed
    (f"---\ncaffemodel: a.caffemodel\nsha1: {SHA1}\n---\n", "has no caffemodel_url; add 'caffemodel_url: …'"),
    ("---\nname: x\n---\n", "has no caffemodel and no caffemodel_url and no sha1"),
    (f"---\ncaffemodel: ../a.caffemodel\ncaffemodel_url: http://x/a\nsha1: {SHA1}\n---\n", "must be a file name"),
    ("---\ncaffemodel: a.caffemodel\ncaffemodel_url: http://x/a\nsha1: 12ab\n---\n", "is not a sha1"),
    (f"---\ncaffemodel: a.caffemodel\ncaffemodel_url: ftp://x/a\nsha1: {SHA1}\n---\n", "not an http:// or https://"),
])
def test_a_readme_that_cannot_say_what_to_download(readme, says, tmp_path, capsys):
    folder = tmp_path / "net"
    folder.mkdir()
    if readme is not None:
        (folder / "readme.md").write_text(readme)
    code, out, err = _run(capsys, "download-model", str(folder))
    line = _error_line(err)
    assert code == 2 and says in line and str(folder) in line
    assert sorted(p.name for p in folder.iterdir()) == ([] if readme is None else ["readme.md"])


def test_not_a_folder(tmp_path, capsys):
    code, out, err = _run(capsys, "download-model", str(tmp_path / "nope"))
    assert code == 2 and "not a folder" in _error_line(err)


def test_a_disk_that_refuses_the_bytes_is_one_line(tmp_path, server, capsys, monkeypatch):
    import tunewiz.commands.httpfetch as httpfetch

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    server.cut_after = 30_000
    folder = _folder(tmp_path, server.url())
    assert _run(capsys, "download-model", str(folder), "-retries", "0")[0] == 1
    monkeypatch.setattr(httpfetch, "_copy", full)
    code, out, err = _run(capsys, "download-model", str(folder))
    line = _error_line(err)
    assert code == 1 and "No space left on device; the 30,000 bytes received are kept" in line


def test_ctrl_c_keeps_the_bytes_for_the_next_run(tmp_path, server, capsys, monkeypatch):
    import tunewiz.commands.httpfetch as httpfetch

    def interrupted(response, out, start, *args):
        out.write(response.read(7_000))
        raise KeyboardInterrupt

    folder = _folder(tmp_path, server.url())
    monkeypatch.setattr(httpfetch, "_copy", interrupted)
    code, out, err = _run(capsys, "download-model", str(folder))
    part = folder / f"{NAME}.part"
    assert code == 130 and f"stopped; the 7,000 bytes received are kept in {part}" in err
    assert part.read_bytes() == PAYLOAD[:7_000] and not (folder / NAME).exists()
