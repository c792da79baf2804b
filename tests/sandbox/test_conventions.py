"""Stripe's HTTP conventions as the SDK (and raw HTTP clients) see them."""

# ruff: noqa: S310 - requests go to the sandbox on 127.0.0.1

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import stripe
from stripe import StripeClient
from stripe_sandbox.testing import RunningSandbox, running_sandbox

from .helpers import book_price


def raw(
    sandbox: RunningSandbox, method: str, path: str, body: str | None = None, key: str | None = None
) -> tuple[int, dict[str, str], dict]:
    """Send a request without the SDK; returns status, headers and parsed body."""
    request = urllib.request.Request(
        sandbox.base_url + path,
        data=body.encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {key or sandbox.api_key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), json.loads(exc.read())


def test_bad_api_key_is_401_with_stripe_error(sandbox: RunningSandbox) -> None:
    """A wrong key gets 401 invalid_request_error, which the SDK raises as AuthenticationError."""
    status, headers, body = raw(sandbox, "GET", "/v1/products", key="sk_test_wrong")
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("Invalid API Key provided")
    assert headers["Request-Id"].startswith("req_")
    bad = sandbox.client("sk_test_wrong")
    with pytest.raises(stripe.AuthenticationError):
        bad.v1.products.list()


def test_missing_authorization_is_401(sandbox: RunningSandbox) -> None:
    """No Authorization header at all is refused too."""
    request = urllib.request.Request(sandbox.base_url + "/v1/products")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    with caught.value as error:
        assert error.code == 401


def test_missing_object_is_404_resource_missing(stripe_client: StripeClient) -> None:
    """Retrieving an unknown id gives Stripe's exact message and code."""
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.prices.retrieve("price_x")
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"
    assert caught.value.user_message == "No such price: 'price_x'"
    assert caught.value.request_id and caught.value.request_id.startswith("req_")


def test_unknown_url_is_404_stripe_json(sandbox: RunningSandbox) -> None:
    """Unknown API routes still answer with Stripe's error shape."""
    status, _, body = raw(sandbox, "GET", "/v1/nothing_here")
    assert status == 404
    assert "Unrecognized request URL" in body["error"]["message"]


def test_bracket_arrays_and_expand_in_raw_query(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """`expand[]=` and `lookup_keys[]=` (non-indexed arrays) work like the indexed form."""
    product = stripe_client.v1.products.create(params={"name": "Dune"})
    stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "unit_amount": 900,
            "currency": "gbp",
            "lookup_key": "book:dune",
        }
    )
    stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "unit_amount": 500,
            "currency": "gbp",
            "lookup_key": "book:other",
        }
    )
    status, _, body = raw(
        sandbox, "GET", "/v1/prices?lookup_keys[]=book:dune&expand[]=data.product"
    )
    assert status == 200
    assert [p["lookup_key"] for p in body["data"]] == ["book:dune"]
    assert body["data"][0]["product"]["name"] == "Dune"


def test_nested_form_body_with_bracket_arrays(sandbox: RunningSandbox) -> None:
    """A raw POST with metadata[k] and images[] is decoded into nested params."""
    status, _, body = raw(
        sandbox,
        "POST",
        "/v1/products",
        "name=Book&metadata[isbn]=123&images[]=a.png&images[]=b.png",
    )
    assert status == 200
    assert body["metadata"] == {"isbn": "123"}
    assert body["images"] == ["a.png", "b.png"]


def test_metadata_with_digit_keys_stays_a_hash(stripe_client: StripeClient) -> None:
    """metadata[42]=x is a hash key, not an array index, as on Stripe."""
    customer = stripe_client.v1.customers.create(params={"metadata": {"42": "x", "7": "y"}})
    assert customer.to_dict()["metadata"] == {"42": "x", "7": "y"}
    updated = stripe_client.v1.customers.update(customer.id, params={"metadata": {"0": "zero"}})
    assert updated.to_dict()["metadata"] == {"42": "x", "7": "y", "0": "zero"}


def test_indexed_arrays_follow_their_indexes(sandbox: RunningSandbox) -> None:
    """x[1]/x[0] are read in index order; an array param with other keys is refused."""
    status, _, body = raw(
        sandbox, "POST", "/v1/products", "name=Book&images[1]=b.png&images[0]=a.png"
    )
    assert (status, body["images"]) == (200, ["a.png", "b.png"])
    status, _, body = raw(sandbox, "POST", "/v1/products", "name=Book&images[x]=a.png")
    assert (status, body["error"]["param"]) == (400, "images")


def test_non_indexed_arrays_of_hashes(sandbox: RunningSandbox, stripe_client: StripeClient) -> None:
    """line_items[][price]=…&line_items[][quantity]=… (as some clients send) is a list of
    hashes, a new one each time a key repeats."""
    first, second = book_price(stripe_client, 1200), book_price(stripe_client, 800, name="Emma")
    status, _, body = raw(
        sandbox,
        "POST",
        "/v1/checkout/sessions",
        f"mode=payment&success_url=https://shop.test/&line_items[][price]={first}"
        f"&line_items[][quantity]=1&line_items[][price]={second}&line_items[][quantity]=3",
    )
    assert status == 200, body
    assert body["amount_total"] == 1200 + 3 * 800
    items = stripe_client.v1.checkout.sessions.line_items.list(body["id"]).data
    assert sorted((i.price.id if i.price else None, i.quantity) for i in items) == sorted(
        [(first, 1), (second, 3)]
    )


def test_idempotent_replay_returns_the_same_object(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """The same key and params replay the first response; nothing new is created."""
    options: stripe.RequestOptions = {"idempotency_key": "user-42-customer"}
    first = stripe_client.v1.customers.create(params={"email": "a@example.com"}, options=options)
    second = stripe_client.v1.customers.create(params={"email": "a@example.com"}, options=options)
    assert first.id == second.id
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    assert len(stripe_client.v1.customers.list().data) == 1


def test_idempotency_records_keep_no_raw_api_key(tmp_path: Path) -> None:
    """The database never holds an API key; replays still work per key, and a webhook
    endpoint's replay returns its secret as the first answer did."""
    keys = ("sk_test_first_secret_key", "sk_test_second_secret_key")
    db_path = tmp_path / "idem.sqlite3"
    with running_sandbox(db_path, api_keys=keys) as sb:
        options: stripe.RequestOptions = {"idempotency_key": "same-key"}
        params: dict[str, Any] = {"url": "https://shop.test/hook", "enabled_events": ["*"]}
        first = sb.client().v1.webhook_endpoints.create(params=params, options=options)  # type: ignore[arg-type]
        again = sb.client().v1.webhook_endpoints.create(params=params, options=options)  # type: ignore[arg-type]
        other = sb.client(keys[1]).v1.webhook_endpoints.create(params=params, options=options)  # type: ignore[arg-type]
        assert again.id == first.id and again.secret == first.secret
        assert other.id != first.id
    connection = sqlite3.connect(db_path)
    try:
        stored = [row[0] for row in connection.execute("SELECT api_key FROM idempotency")]
    finally:
        connection.close()
    assert len(stored) == 2
    assert not any(key in value for value in stored for key in keys)


def test_idempotency_key_with_other_params_is_refused(stripe_client: StripeClient) -> None:
    """Reusing a key with different params raises IdempotencyError."""
    options: stripe.RequestOptions = {"idempotency_key": "k-1"}
    stripe_client.v1.customers.create(params={"email": "a@example.com"}, options=options)
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.customers.create(params={"email": "b@example.com"}, options=options)


def test_validation_errors_are_not_stored_for_replay(stripe_client: StripeClient) -> None:
    """A request that failed validation can be fixed and retried with the same key."""
    options: stripe.RequestOptions = {"idempotency_key": "k-2"}
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.prices.create(
            params={"currency": "gbp", "unit_amount": 100, "product": "prod_missing"},
            options=options,
        )
    product = stripe_client.v1.products.create(params={"name": "x"})
    price = stripe_client.v1.prices.create(
        params={"currency": "gbp", "unit_amount": 100, "product": product.id}, options=options
    )
    assert price.product == product.id


def test_list_pagination_newest_first(stripe_client: StripeClient) -> None:
    """Lists page newest first with starting_after/ending_before and auto-paging sees all."""
    created = [
        stripe_client.v1.customers.create(params={"email": f"c{i}@example.com"}).id
        for i in range(7)
    ]
    newest_first = list(reversed(created))
    page = stripe_client.v1.customers.list(params={"limit": 3})
    assert [c.id for c in page.data] == newest_first[:3]
    assert page.has_more is True
    assert page.url == "/v1/customers"
    after = stripe_client.v1.customers.list(params={"limit": 3, "starting_after": page.data[-1].id})
    assert [c.id for c in after.data] == newest_first[3:6]
    before = stripe_client.v1.customers.list(params={"limit": 2, "ending_before": newest_first[3]})
    assert [c.id for c in before.data] == newest_first[1:3]
    assert [
        c.id for c in stripe_client.v1.customers.list(params={"limit": 2}).auto_paging_iter()
    ] == newest_first


def test_limit_out_of_range_is_400(stripe_client: StripeClient) -> None:
    """`limit` must be 1–100."""
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.customers.list(params={"limit": 101})
    assert caught.value.param == "limit"


def test_events_carry_the_request_and_idempotency_key(stripe_client: StripeClient) -> None:
    """An event caused by an API call names that request and its idempotency key."""
    customer = stripe_client.v1.customers.create(
        params={"email": "a@example.com"}, options={"idempotency_key": "idem-abc"}
    )
    request_id = customer.last_response.request_id
    event = stripe_client.v1.events.list(params={"type": "customer.created"}).data[0]
    assert event.request is not None
    assert event.request.id == request_id
    assert event.request.idempotency_key == "idem-abc"
    assert event.data.object["id"] == customer.id


def test_concurrent_requests_with_one_idempotency_key_create_one_object(
    stripe_client: StripeClient,
) -> None:
    """Racing retries of one request (same key) still create exactly one customer."""
    from concurrent.futures import ThreadPoolExecutor

    def create(_: int) -> str:
        return stripe_client.v1.customers.create(
            params={"email": "race@example.com"}, options={"idempotency_key": "race-1"}
        ).id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(create, range(16)))
    assert len(ids) == 1
    assert len(stripe_client.v1.customers.list(params={"email": "race@example.com"}).data) == 1


def test_cursor_keeps_its_place_when_it_no_longer_matches_the_filter(
    stripe_client: StripeClient,
) -> None:
    """Paging by status stays correct when the cursor object changed status meanwhile."""
    product = stripe_client.v1.products.create(params={"name": "p"})
    prices = [
        stripe_client.v1.prices.create(
            params={"product": product.id, "unit_amount": i + 1, "currency": "gbp"}
        ).id
        for i in range(5)
    ]
    first = stripe_client.v1.prices.list(params={"active": True, "limit": 2})
    assert [p.id for p in first.data] == [prices[4], prices[3]]
    stripe_client.v1.prices.update(prices[3], params={"active": False})
    rest = stripe_client.v1.prices.list(
        params={"active": True, "limit": 2, "starting_after": prices[3]}
    )
    assert [p.id for p in rest.data] == [prices[2], prices[1]]


def test_created_filter_on_lists(stripe_client: StripeClient) -> None:
    """`created[gte]`/`created[lt]` filter any list."""
    customer = stripe_client.v1.customers.create(params={"email": "a@example.com"})
    assert [
        c.id
        for c in stripe_client.v1.customers.list(params={"created": {"gte": customer.created}}).data
    ] == [customer.id]
    assert stripe_client.v1.customers.list(params={"created": {"lt": customer.created}}).data == []
