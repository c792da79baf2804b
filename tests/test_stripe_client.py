"""The shop's Stripe client keeps its connection to Stripe open between calls, reads
the environment's proxy settings once, and never shares a connection across a fork."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shop import stripe_client as stripe_client_module
from shop.stripe_client import build_client


@dataclass
class FakeStripeServer:
    """A Stripe stand-in over real TCP, noting each request and the connection it came on."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def connections(self) -> set[tuple[str, int]]:
        """The client ends (address, port) of the connections requests came on."""
        return {request["client"] for request in self.requests}


@pytest.fixture
def fake_server() -> Iterator[FakeStripeServer]:
    state = FakeStripeServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with state.lock:
                state.requests.append({"client": self.client_address, "line": self.requestline})
            body = json.dumps({"id": "cus_reader", "object": "customer"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Request-Id", "req_1")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_two_calls_travel_over_one_connection(fake_server: FakeStripeServer) -> None:
    """The second call reuses the first one's connection: no new TCP handshake (and,
    with Stripe, no new TLS one) per call."""
    client = build_client("sk_test_unit", fake_server.url, max_network_retries=0)

    client.v1.customers.retrieve("cus_reader")
    client.v1.customers.retrieve("cus_reader")

    assert len(fake_server.requests) == 2
    assert len(fake_server.connections) == 1


def test_a_forked_process_opens_its_own_connection(
    fake_server: FakeStripeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gunicorn worker forked after the master used the client does not talk over the
    master's connection: it opens its own, then keeps that one."""
    client = build_client("sk_test_unit", fake_server.url, max_network_retries=0)
    client.v1.customers.retrieve("cus_reader")

    monkeypatch.setattr(stripe_client_module.os, "getpid", lambda: 999_999)
    client.v1.customers.retrieve("cus_reader")
    client.v1.customers.retrieve("cus_reader")

    first, second, third = (request["client"] for request in fake_server.requests)
    assert second != first
    assert third == second


def test_the_proxy_is_read_from_the_environment_once_when_the_client_is_built(
    fake_server: FakeStripeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY set at start-up is used for every call (the request reaches the proxy
    naming Stripe's address); changing the environment later changes nothing."""
    monkeypatch.setenv("HTTP_PROXY", fake_server.url)
    client = build_client("sk_test_unit", "http://stripe.invalid", max_network_retries=0)
    client.v1.customers.retrieve("cus_reader")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    client.v1.customers.retrieve("cus_reader")

    assert [request["line"] for request in fake_server.requests] == [
        "GET http://stripe.invalid/v1/customers/cus_reader HTTP/1.1"
    ] * 2


def test_no_proxy_for_stripe_means_none_is_used(
    fake_server: FakeStripeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_PROXY covering Stripe's address wins over HTTP_PROXY; a proxy set only after
    start-up is never used."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = build_client("sk_test_unit", fake_server.url, max_network_retries=0)
    monkeypatch.delenv("NO_PROXY")
    direct.v1.customers.retrieve("cus_reader")

    assert fake_server.requests[0]["line"] == "GET /v1/customers/cus_reader HTTP/1.1"
