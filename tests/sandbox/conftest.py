"""Fixtures: a sandbox served on 127.0.0.1 and a webhook receiver to deliver to."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from stripe import StripeClient
from stripe_sandbox.testing import RunningSandbox, running_sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    """A fresh sandbox with fast webhook retries."""
    with running_sandbox(tmp_path / "stripe.sqlite3") as running:
        yield running


@pytest.fixture
def stripe_client(sandbox: RunningSandbox) -> StripeClient:
    """The real SDK aimed at the sandbox."""
    return sandbox.client()


@dataclass
class Receiver:
    """A webhook endpoint that records what it is sent and answers ``statuses`` in turn."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[dict[str, Any]]:
        """Bodies received, parsed, in arrival order."""
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5
    ) -> list[dict[str, Any]]:
        """Wait until ``predicate(events)`` holds; returns the events."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            if predicate(events):
                return events
            time.sleep(0.02)
        raise AssertionError(f"timed out; received {[e['type'] for e in self.events()]}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP server recording webhook deliveries."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            with state.lock:
                state.requests.append({"headers": dict(self.headers), "body": body})
                status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b'{"received": true}')

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class HangingEndpoint:
    """A webhook endpoint that accepts requests and answers none until released."""

    url: str = ""
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def hanging() -> Iterator[HangingEndpoint]:
    """A local HTTP server that hangs on every request until the test ends."""
    state = HangingEndpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            state.arrived.set()
            state.released.wait(60)
            try:
                self.send_response(200)
                self.end_headers()
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield state
    state.released.set()
    server.shutdown()
    server.server_close()
