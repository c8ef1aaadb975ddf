"""Fetch a URL into a partial file that a later run resumes: what ``tunewiz download-model`` downloads with.

``fetch`` appends to the partial file (:func:`tunewiz.caffe.tempfiles.partial_path`) from where it ends,
asking the server for the rest with an HTTP ``Range: bytes=N-`` header.  A server that honours it answers
206 with ``Content-Range: bytes N-…/total``; one that ignores it answers 200 with the whole file, which then
replaces the partial from its first byte (a clean restart, said on stderr).  416 (the range starts at or
past the end) means the partial already holds the whole file, or something longer: then it starts over.
A connection cut or stalled mid-file is resumed at once, up to ``retries`` times, as long as the try
before brought bytes.  Every other failure is one :class:`FetchFailed` naming the URL and the reason:
an HTTP error, a refused connection, a host that does not resolve, a timeout.  Only urllib: no new
dependency.
"""
from __future__ import annotations

import http.client
import os
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tunewiz.errors import TunewizError

try:
    import fcntl
except ImportError:  # Windows: two downloads into one folder are not caught there
    fcntl = None

CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?P<first>\d+)-\d+/(?P<total>\d+|\*)\s*$")
_UNSATISFIED = re.compile(r"^\s*bytes\s+\*/(?P<total>\d+)\s*$")


class FetchFailed(TunewizError):
    """The download stopped: a dead link, a refused connection, an unknown host, a timeout."""

    exit_code = 1


class PartialInUse(FetchFailed):
    """Another download holds the partial file (its lock): this one leaves the file alone."""


@dataclass
class Fetched:
    """What the partial file holds once the server sent all of it."""

    size: int
    resumed_from: int  # 0: from the first byte
    content_type: str


class _Cut(Exception):
    """The connection ended before the body did (``got``: bytes this try brought)."""

    def __init__(self, reason: str, got: int) -> None:
        super().__init__(reason)
        self.got = got


class _StartOver(Exception):
    """The partial cannot be continued: empty it and ask for the whole file."""


Progress = Callable[[int, "int | None"], None]
Say = Callable[[str], None]


def fetch(url: str, part: Path, timeout: float, retries: int, progress: Progress, say: Say) -> Fetched:
    """Download ``url`` into ``part`` (resuming what it holds); return when the server sent all of it.
    ``progress(done, total)`` follows the bytes, ``say(line)`` tells of a restart or a resumed cut."""
    with open(part, "ab") as out:
        _lock(out, part)
        tries, restarts, kept = 0, 0, out.tell()
        while True:
            start = out.seek(0, os.SEEK_END)
            try:
                started, content_type = _one_try(url, out, start, timeout, progress, say)
            except _StartOver:
                if restarts:  # a server whose parts never fit the file: stop rather than loop
                    raise FetchFailed(f"{url}: the server sends parts of the file that do not continue it "
                                      "(a broken Content-Range); download it by hand") from None
                out.truncate(0)
                restarts, kept = 1, 0
                continue
            except _Cut as cut:
                if tries >= retries or cut.got == 0:
                    raise FetchFailed(f"{url}: {cut}") from None
                tries += 1
                say(f"{cut}; resuming at byte {out.tell():,} (retry {tries} of {retries})")
                continue
            out.flush()
            os.fsync(out.fileno())  # the bytes are on disk before the caller renames the file
            return Fetched(out.tell(), kept if started else 0, content_type)


def _lock(out, part: Path) -> None:
    """Refuse a second download into the same partial (it would append to what the first writes)."""
    if fcntl is None:
        return
    try:
        fcntl.flock(out.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise PartialInUse(f"{part}: another download is writing this file; wait for it to finish") from None


def _one_try(url: str, out, start: int, timeout: float, progress: Progress, say: Say) -> tuple[int, str]:
    """One request, its body appended to ``out`` from byte ``start``; returns (the byte it started at,
    the body's Content-Type)."""
    response = _open(url, start, timeout)
    if response is None:  # the partial already holds every byte
        return start, ""
    with response:
        total = _expected_total(response, start)
        if start and response.status != 206:
            say("the server sends the whole file again (it ignores HTTP Range): starting over from byte 0")
            out.truncate(0)
            start = 0
        _copy(response, out, start, total, timeout, progress)
        return start, response.headers.get("Content-Type", "")


def _open(url: str, start: int, timeout: float):
    """The response to GET ``url`` from byte ``start`` (None: there is nothing after it), or FetchFailed
    saying why there is none."""
    headers = {"User-Agent": "tunewiz", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        code, reason, content_range = exc.code, exc.reason, exc.headers.get("Content-Range", "")
        exc.close()
    except urllib.error.URLError as exc:
        raise FetchFailed(f"{url}: {_why(exc.reason, url, timeout)}") from None
    except (OSError, http.client.HTTPException) as exc:  # a timeout or reset before the headers came
        raise FetchFailed(f"{url}: {_why(exc, url, timeout)}") from None
    if code == 416 and start:  # the range starts at or past the end: complete, or longer than the file
        match = _UNSATISFIED.match(content_range)
        if match and int(match["total"]) == start:
            return None
        raise _StartOver()
    raise FetchFailed(f"{url}: HTTP {code} {reason}{_http_hint(code)}")


def _expected_total(response, start: int) -> int | None:
    """The whole file's size, as the response gives it (None: the server does not say).  A 206 that does
    not continue at ``start`` cannot be appended: start over."""
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if response.status != 206:
        return length
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if not match or int(match["first"]) != start:
        raise _StartOver()
    if match["total"] != "*":
        return int(match["total"])
    return start + length if length is not None else None


def _copy(response, out, start: int, total: int | None, timeout: float, progress: Progress) -> None:
    """Append the body to ``out``; a body that stops short of ``total`` (or a stall, a reset) is a _Cut."""
    got = 0
    progress(start, total)  # where this body starts: the first call, or a restart from 0
    try:
        while block := response.read1(CHUNK):  # what has come, not a full CHUNK: a stall loses nothing
            out.write(block)
            got += len(block)
            progress(start + got, total)
    except (OSError, http.client.HTTPException) as exc:  # socket.timeout is an OSError
        raise _Cut(f"the connection broke after {start + got:,} bytes ({_why(exc, '', timeout)})", got) from None
    if total is not None and start + got < total:
        raise _Cut(f"the server closed the connection after {start + got:,} of {total:,} bytes", got)


def _why(reason, url: str, timeout: float) -> str:
    """A failure to connect or to read, in the user's words."""
    where = urllib.parse.urlsplit(url).netloc or "the server"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"no data from {where} for {timeout:g} s (a timeout; give --timeout to wait longer)"
    if isinstance(reason, ConnectionRefusedError):
        return f"connection refused by {where}: nothing answers there, the link may be dead"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host of {where} (offline, or the host is gone): {reason.strerror or reason}"
    if isinstance(reason, ssl.SSLError):
        return f"the secure connection to {where} failed: {reason}"
    if isinstance(reason, http.client.IncompleteRead):
        return "the body ended early"
    return str(getattr(reason, "strerror", None) or reason or type(reason).__name__)


def _http_hint(code: int) -> str:
    if code in (404, 410):
        return ": the link is dead (the file is no longer there); look for another caffemodel_url"
    if code in (401, 403):
        return ": the server refuses the download (the link may need a login, or moved)"
    if code >= 500:
        return ": the server failed; try again later"
    return ""
