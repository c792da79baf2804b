"""What a benchmark reads from the sandbox: the API requests it answered, per route;
answers delayed like a distant Stripe's; connections kept open between requests."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import pytest
from stripe import StripeClient
from stripe_sandbox.__main__ import parse_args, settings_from
from stripe_sandbox.api import base
from stripe_sandbox.app import create_app
from stripe_sandbox.testing import RunningSandbox

from stripe_sandbox import SandboxSettings

AUTH = {"Authorization": "Bearer sk_test_sandbox"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _api_calls(sandbox: RunningSandbox, method: str = "GET") -> Any:
    host, port = sandbox.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, "/dashboard/api-calls")
        response = connection.getresponse()
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        return json.loads(response.read())
    finally:
        connection.close()


def test_api_requests_are_counted_per_route_with_ids_collapsed(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Two retrieves of different customers count under one route; the count itself,
    the dashboard and unknown URLs are told apart; DELETE starts again from zero."""
    first = stripe_client.v1.customers.create(params={"email": "a@example.com"})
    second = stripe_client.v1.customers.create(params={"email": "b@example.com"})
    stripe_client.v1.customers.retrieve(first.id)
    stripe_client.v1.customers.retrieve(second.id)
    stripe_client.v1.prices.list(params={"limit": 100})
    with pytest.raises(Exception, match="Unrecognized request URL"):
        stripe_client.raw_request("get", "/v1/no_such_things/x_1")

    counted = _api_calls(sandbox)

    assert counted["by_route"] == {
        "POST /v1/customers": 2,
        "GET /v1/customers/{id}": 2,
        "GET /v1/prices": 1,
        "GET /v1/no_such_things/x_1": 1,
    }
    assert counted["total"] == 6
    assert _api_calls(sandbox, "DELETE")["total"] == 6
    assert _api_calls(sandbox) == {"total": 0, "by_route": {}}
    stripe_client.v1.customers.retrieve(first.id)
    assert _api_calls(sandbox) == {"total": 1, "by_route": {"GET /v1/customers/{id}": 1}}


def test_latency_delays_every_api_answer_and_no_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``latency_ms`` set, each /v1 answer waits that long before it is made (a
    failed one too); hosted pages and the dashboard answer at once."""
    waits: list[float] = []
    monkeypatch.setattr(base, "sleep", waits.append)
    app = create_app(SandboxSettings(db_path=str(tmp_path / "s.sqlite3"), latency_ms=150))
    client = app.test_client()

    assert client.post("/v1/products", data={"name": "Dune"}, headers=AUTH).status_code == 200
    assert client.get("/v1/products", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert waits == [0.15, 0.15]
    assert client.get("/dashboard").status_code == 200
    assert client.get("/dashboard/api-calls").status_code == 200
    assert waits == [0.15, 0.15]


def test_latency_is_a_setting_of_the_environment_and_the_command_line() -> None:
    """``SANDBOX_LATENCY_MS`` and ``--latency-ms``; no delay unless asked."""
    assert SandboxSettings.from_env({}).latency_ms == 0
    assert SandboxSettings.from_env({"SANDBOX_LATENCY_MS": "150"}).latency_ms == 150
    args = parse_args(["run", "--latency-ms", "40"])
    assert settings_from(args).latency_ms == 40


def test_two_requests_travel_over_one_connection(sandbox: RunningSandbox) -> None:
    """The server speaks HTTP/1.1 keep-alive: a client's second request reuses the
    connection of its first, as it would with Stripe."""
    host, port = sandbox.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(
            "POST",
            "/v1/products",
            body="name=Dune",
            headers={**AUTH, **FORM},
        )
        first = connection.getresponse()
        first.read()
        assert first.version == 11
        assert first.headers["Content-Length"]
        assert first.headers.get("Connection", "").lower() != "close"
        opened = connection.sock
        assert opened is not None
        local_address = opened.getsockname()

        connection.request("GET", "/v1/products?limit=3", headers=AUTH)
        second = connection.getresponse()
        assert json.loads(second.read())["data"][0]["name"] == "Dune"
        assert connection.sock is opened
        assert opened.getsockname() == local_address

        # A refused request's unread body does not spill into the next request.
        connection.request(
            "POST",
            "/v1/products",
            body="name=Refused",
            headers={"Authorization": "Bearer sk_test_wrong", **FORM},
        )
        refused = connection.getresponse()
        refused.read()
        assert refused.status == 401
        connection.request("GET", "/v1/products?limit=3", headers=AUTH)
        third = connection.getresponse()
        assert [p["name"] for p in json.loads(third.read())["data"]] == ["Dune"]
        assert connection.sock is opened
    finally:
        connection.close()


@pytest.mark.parametrize("path", ["/", "/dashboard", "/checkout/cs_missing", "/v1/nothing"])
def test_every_answer_says_its_length(sandbox: RunningSandbox, path: str) -> None:
    """Pages, redirects and errors carry Content-Length, so a kept-open connection
    knows where each answer ends."""
    host, port = sandbox.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path, headers=AUTH)
        response = connection.getresponse()
        body = response.read()
        assert response.headers["Content-Length"] == str(len(body))
        assert "chunked" not in response.headers.get("Transfer-Encoding", "")
    finally:
        connection.close()
