"""A delaying HTTP proxy: `python -m bench.stress.proxy --port P --target URL --max-delay-ms N`.

Every request is held a random 0–N ms, then forwarded to the target (the Stripe sandbox)
and its answer returned as it came. The shop's Stripe calls go through it during a
stress run, so retrieves of one object take different times and overlap, as they do
when Stripe is far away and busy.
"""

from __future__ import annotations

import argparse
import http.client
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


def make_handler(host: str, port: int, max_delay_ms: int) -> type[BaseHTTPRequestHandler]:
    local = threading.local()

    def upstream() -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(host, port, timeout=60)
            local.connection = connection
        return connection

    class Delaying(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return None

        def _forward(self) -> None:
            time.sleep(random.uniform(0, max_delay_ms) / 1000)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            for attempt in (1, 2):
                # A kept-alive connection the sandbox closed meanwhile is opened again, once;
                # a fresh one that fails is the sandbox's failure (a POST is never sent twice).
                reused = getattr(local, "connection", None) is not None
                connection = upstream()
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    data = answer.read()
                    break
                except (OSError, http.client.HTTPException):
                    connection.close()
                    local.connection = None
                    if attempt == 2 or not reused:
                        self.send_error(502, "sandbox unreachable")
                        return
            if answer.getheader("Connection", "").lower() == "close":
                connection.close()
                local.connection = None
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP | {"content-length"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _forward

    return Delaying


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--max-delay-ms", type=int, default=300)
    args = parser.parse_args()
    target = urlsplit(args.target)
    handler = make_handler(target.hostname or "127.0.0.1", target.port or 80, args.max_delay_ms)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
