"""An HTTP server on 127.0.0.1 for the download-model tests: serves one payload, and misbehaves on request.

``ZooServer(payload)`` serves ``payload`` at every path but ``/missing`` (404).  What it can be told:

* ``honour_range``: answer ``Range: bytes=N-`` with 206 and ``Content-Range`` (416 past the end), or ignore it
  and send the whole file with 200;
* ``cut_after``: the first ``cuts`` GETs send the headers of the whole answer, then ``cut_after`` bytes of
  its body, and close the connection;
* ``stall_before`` / ``stall_after``: wait (until the test ends) before the headers, or after ``stall_after``
  bytes of the body, so that the client's timeout fires;
* ``wrong_range``: answer a Range with a 206 whose Content-Range starts at byte 0, not where asked;
* ``chunked``: send the body in chunks (Transfer-Encoding: chunked, no Content-Length);
* ``content_type``.

Every request's ``Range`` header (or None) is recorded in ``ranges``.  No other network is used.
"""
from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ZooServer:
    """The server, its settings and what it saw; a context manager that stops it."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.honour_range = True
        self.cut_after: int | None = None
        self.cuts = 1
        self.stall_before = False
        self.stall_after: int | None = None
        self.wrong_range = False
        self.chunked = False
        self.content_type = "application/octet-stream"
        self.ranges: list[str | None] = []
        self.release = threading.Event()  # ends every stall when the test is done
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)  # quick shutdown
        self.thread.start()

    def url(self, path: str = "/model.caffemodel") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "ZooServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _handler(server: ZooServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet: pytest shows stderr on failures
            pass

        def do_GET(self) -> None:
            wanted = self.headers.get("Range")
            server.ranges.append(wanted)
            if server.stall_before:
                server.release.wait(10)
                return
            if self.path == "/missing":
                self.send_error(404, "Not Found")
                return
            start = _range_start(wanted) if server.honour_range else None
            if start and server.wrong_range:
                self._wrong_part()
                return
            self._answer(start)

        def _answer(self, start: int | None) -> None:
            payload = server.payload
            if start is not None and start >= len(payload):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(payload)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = payload[start or 0:]
            if server.chunked:
                self.protocol_version = "HTTP/1.1"  # chunks need 1.1, said on the status line
            self.send_response(206 if start is not None else 200)
            if start is not None:
                self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
            self.send_header("Content-Type", server.content_type)
            if server.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
            else:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self._body(_chunks(body) if server.chunked else body)

        def _wrong_part(self) -> None:
            payload = server.payload
            self.send_response(206)
            self.send_header("Content-Range", f"bytes 0-{len(payload) - 1}/{len(payload)}")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _body(self, body: bytes) -> None:
            if server.cut_after is not None and server.cuts > 0:
                server.cuts -= 1
                self.wfile.write(body[:server.cut_after])
                self.close_connection = True
                return
            if server.stall_after is not None:
                self.wfile.write(body[:server.stall_after])
                self.wfile.flush()
                server.stall_after = None  # once: the resumed request is served whole
                server.release.wait(10)
                return
            self.wfile.write(body)

    return Handler


def _chunks(body: bytes, size: int = 10_000) -> bytes:
    """``body`` as HTTP/1.1 chunks, with the last (empty) chunk."""
    parts = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def _range_start(header: str | None) -> int | None:
    match = re.fullmatch(r"bytes=(\d+)-", header or "")
    return int(match[1]) if match else None
