"""``fetch``: a URL into a resumable partial file, for what the command tests leave out (server on 127.0.0.1)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tunewiz.commands.httpfetch import FetchFailed, fetch

sys.path.insert(0, str(Path(__file__).parent))
from zoo_server import ZooServer  # noqa: E402

PAYLOAD = os.urandom(50_000)


@pytest.fixture
def server():
    with ZooServer(PAYLOAD) as zoo:
        yield zoo


def _fetch(server, part, retries=0):
    seen, said = [], []
    done = fetch(server.url(), part, 2.0, retries, lambda d, t: seen.append((d, t)), said.append)
    return done, seen, said


def test_progress_counts_from_the_resumed_byte(server, tmp_path):
    part = tmp_path / "m.caffemodel.part"
    part.write_bytes(PAYLOAD[:10_000])
    done, seen, said = _fetch(server, part)
    assert part.read_bytes() == PAYLOAD and (done.size, done.resumed_from) == (50_000, 10_000)
    assert seen[0] == (10_000, 50_000) and seen[-1] == (50_000, 50_000) and said == []


def test_a_part_that_does_not_continue_the_file_starts_over(server, tmp_path):
    server.wrong_range = True  # the 206 starts at byte 0: appending it would corrupt the file
    part = tmp_path / "m.caffemodel.part"
    part.write_bytes(PAYLOAD[:10_000])
    done, seen, said = _fetch(server, part)
    assert part.read_bytes() == PAYLOAD and done.resumed_from == 0 and server.ranges == ["bytes=10000-", None]


def test_a_server_whose_parts_never_fit_is_one_failure(server, tmp_path):
    server.wrong_range, server.cut_after = True, 20_000  # the whole file is cut once, then every part is wrong
    part = tmp_path / "m.caffemodel.part"
    part.write_bytes(PAYLOAD[:10_000])
    with pytest.raises(FetchFailed, match="parts of the file that do not continue it"):
        _fetch(server, part, retries=2)


def test_a_chunked_body_cut_short_is_resumed(server, tmp_path):
    server.chunked, server.cut_after = True, 25_000  # no Content-Length: the chunks tell the end
    part = tmp_path / "m.caffemodel.part"
    done, seen, said = _fetch(server, part, retries=1)
    assert part.read_bytes() == PAYLOAD and seen[0] == (0, None)
    assert len(said) == 1 and "resuming at byte" in said[0]
