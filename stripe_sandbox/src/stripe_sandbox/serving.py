"""The sandbox's HTTP server: threaded, and keeping connections open like Stripe's.

Werkzeug's development server closes every connection after one answer (it cannot
tell where an unread request body ends). A client of Stripe keeps its connection
open, so a sandbox that closed them would hide what a reused connection saves. The
request handler here speaks HTTP/1.1 keep-alive: it gives the application the request
body with its length, reads what the application left unread, and sends every answer
whole with its ``Content-Length``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.exceptions import InternalServerError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wsgi import LimitedStream

#: An idle kept-open connection is closed after this many seconds (Stripe's own
#: servers keep an idle connection for about a minute).
IDLE_TIMEOUT = 60


class KeepAliveRequestHandler(WSGIRequestHandler):
    """One connection, as many requests as the client sends over it."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT

    def run_wsgi(self) -> None:
        """Answer one request: the whole answer is made before it is sent, so its
        length is known and the connection stays usable for the next request."""
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        body_stream: LimitedStream | None = None
        if environ.get("wsgi.input_terminated"):
            # A chunked request body: where it ends is the dechunker's business;
            # after it, start afresh on a new connection.
            self.close_connection = True
        else:
            body_stream = LimitedStream(
                environ["wsgi.input"], int(environ.get("CONTENT_LENGTH") or 0)
            )
            environ["wsgi.input"] = body_stream
        try:
            status, headers, body = _answer(self.server.app, environ)
        except self.connection_dropped_errors as exc:
            self.connection_dropped(exc, environ)
            self.close_connection = True
            return
        except Exception as exc:
            if self.server.passthrough_errors:
                raise
            self.server.log("error", f"Error on request {self.requestline!r}: {exc!r}")
            status, headers, body = _answer(InternalServerError(), environ)
        if body_stream is not None:
            body_stream.exhaust()
        code, _, message = status.partition(" ")
        self.send_response(int(code), message)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if environ["REQUEST_METHOD"] != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()


def _answer(
    app: Callable[..., Iterable[bytes]], environ: dict[str, Any]
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run the WSGI ``app`` and collect its whole answer: status, headers, body."""
    started: list[Any] = []
    written: list[bytes] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]
        return written.append

    result = app(environ, start_response)
    try:
        written.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not started:
        raise RuntimeError("the application gave no status")
    return started[0], started[1], b"".join(written)


def make_threaded_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded server for ``app`` (each connection in a thread of its own, so slow
    answers overlap) that keeps connections open; ``port`` 0 picks a free one."""
    return make_server(host, port, app, threaded=True, request_handler=KeepAliveRequestHandler)
