"""Checkout: a pending order first, then a 303 to Stripe with catalogue prices only."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskClient

from shop.extensions import db
from shop.models import Customer, Order
from tests import helpers
from tests.stripe_fakes import API, example, listing

SESSION_URL = "https://checkout.stripe.com/c/pay/cs_test_a1"


def price(lookup_key: str, amount: int, interval: str | None = None) -> dict[str, Any]:
    return example(
        "price",
        id=f"price_{lookup_key.replace(':', '_')}",
        lookup_key=lookup_key,
        unit_amount=amount,
        currency="gbp",
        active=True,
        recurring={"interval": interval, "interval_count": 1} if interval else None,
    )


def stripe_has_prices(mock: responses.RequestsMock, *prices: dict[str, Any]) -> None:
    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        query = parse_qs(request.url.split("?", 1)[1])
        wanted = {v for k, vs in query.items() if k.startswith("lookup_keys") for v in vs}
        found = [p for p in prices if p["lookup_key"] in wanted]
        return 200, {}, json.dumps(listing("/v1/prices", found))

    mock.add_callback("GET", re.compile(API + r"/v1/prices\?.*"), callback=answer)


def stripe_creates_customer(mock: responses.RequestsMock) -> None:
    mock.add("POST", API + "/v1/customers", json=example("customer", id="cus_reader"))


def stripe_creates_session(mock: responses.RequestsMock) -> None:
    """Each create answers a new open session: cs_test_a1, cs_test_a2, …"""
    made: list[str] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        made.append(f"cs_test_a{len(made) + 1}")
        url = SESSION_URL.replace("cs_test_a1", made[-1])
        return 200, {}, json.dumps(example("checkout.session", id=made[-1], url=url, status="open"))

    mock.add_callback("POST", API + "/v1/checkout/sessions", callback=answer)


def sent(mock: responses.RequestsMock, path: str) -> list[Any]:
    return [c.request for c in mock.calls if c.request.url == API + path]


def form_of(request: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.body).items()}


@pytest.fixture
def stripe_ready(fake_stripe: responses.RequestsMock) -> responses.RequestsMock:
    stripe_has_prices(
        fake_stripe,
        price("book:the-salt-road", 1299),
        price("book:salt-road-ebook", 699),
        price("book:letters-from-the-lighthouse", 2200),
        price("plan:reader:month", 900, "month"),
        price("plan:reader:year", 9000, "year"),
    )
    stripe_creates_customer(fake_stripe)
    stripe_creates_session(fake_stripe)
    return fake_stripe


def test_buying_a_book_redirects_to_stripe_with_catalogue_prices(
    app: Flask, client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    response = client.post("/checkout/books/the-salt-road", data={"quantity": "2", "ship_to": "GB"})
    assert response.status_code == 303
    assert response.location == SESSION_URL

    (request,) = sent(stripe_ready, "/v1/checkout/sessions")
    params = form_of(request)
    with app.app_context():
        order = db.session.execute(db.select(Order)).scalar_one()
        assert (order.status, order.amount_total, order.user_id) == ("pending", 2598, shopper)
        assert order.checkout_session_id == "cs_test_a1"
        order_id = order.id
    assert params["mode"] == "payment"
    assert params["line_items[0][price]"] == "price_book_the-salt-road"
    assert params["line_items[0][quantity]"] == "2"
    assert params["success_url"] == (
        f"http://shop.test/orders/{order_id}/confirmation?session_id={{CHECKOUT_SESSION_ID}}"
    )
    assert params["cancel_url"] == f"http://shop.test/orders/{order_id}/cancelled"
    assert params["client_reference_id"] == f"order-{order_id}"
    assert Order.id_from_reference(params["client_reference_id"]) == order_id
    assert params["metadata[order_id]"] == str(order_id)
    assert params["customer"] == "cus_reader"
    assert params["allow_promotion_codes"] == "true"
    assert params["shipping_address_collection[allowed_countries][0]"] == "GB"
    assert request.headers["Idempotency-Key"].startswith("quire-")


def test_the_shopper_cannot_set_an_amount_or_a_price(
    app: Flask, client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    response = client.post(
        "/checkout/books/salt-road-ebook",
        data={"quantity": "1", "amount": "1", "unit_amount": "1", "price": "price_cheap"},
    )
    assert response.status_code == 303
    params = form_of(sent(stripe_ready, "/v1/checkout/sessions")[0])
    assert params["line_items[0][price]"] == "price_book_salt-road-ebook"
    assert not any("amount" in key or "price_data" in key for key in params)
    assert "shipping_address_collection[allowed_countries][0]" not in params  # an ebook
    with app.app_context():
        assert db.session.execute(db.select(Order.amount_total)).scalar_one() == 699


def test_stripe_holding_a_different_amount_is_refused(
    app: Flask, client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    stripe_has_prices(fake_stripe, price("book:the-salt-road", 1))  # tampered or unsynced
    response = client.post("/checkout/books/the-salt-road", data={"quantity": "1", "ship_to": "GB"})
    assert response.status_code == 503
    assert "price is being updated" in response.text
    assert sent(fake_stripe, "/v1/checkout/sessions") == []
    with app.app_context():  # nothing ordered, nothing held
        assert db.session.execute(db.select(db.func.count(Order.id))).scalar_one() == 0


@pytest.mark.parametrize("quantity", ["0", "11", "-1", "two"])
def test_quantity_outside_1_to_10_is_refused(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    fake_stripe: responses.RequestsMock,
    quantity: str,
) -> None:
    response = client.post("/checkout/books/the-salt-road", data={"quantity": quantity})
    assert response.status_code == 302
    assert client.get(response.location).text.count("Choose a quantity between 1 and 10") == 1
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Order.id))).scalar_one() == 0
    assert len(fake_stripe.calls) == 0


def test_unknown_book_sells_nothing(
    client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    response = client.post("/checkout/books/no-such-book", data={"quantity": "1"})
    assert response.status_code == 302
    assert "not in our catalogue" in client.get(response.location).text
    assert len(fake_stripe.calls) == 0


def test_buying_signed_out_puts_the_book_in_the_basket_instead_of_paying(
    client: FlaskClient, fake_stripe: responses.RequestsMock
) -> None:
    response = client.post("/checkout/books/the-salt-road", data={"quantity": "1"})
    assert response.status_code == 302 and response.location == "/cart"
    assert "The Salt Road" in client.get("/cart").text
    assert len(fake_stripe.calls) == 0


def test_subscribing_opens_a_subscription_session_with_the_trial(
    app: Flask, client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    response = client.post("/checkout/memberships/reader", data={"interval": "year"})
    assert response.status_code == 303
    params = form_of(sent(stripe_ready, "/v1/checkout/sessions")[0])
    assert params["mode"] == "subscription"
    assert params["line_items[0][price]"] == "price_plan_reader_year"
    assert params["line_items[0][quantity]"] == "1"
    assert params["subscription_data[trial_period_days]"] == "14"
    assert params["subscription_data[metadata][user_id]"] == str(shopper)
    assert params["subscription_data[metadata][plan]"] == "reader"
    with app.app_context():
        assert db.session.execute(db.select(Order.amount_total)).scalar_one() == 9000


def test_a_bad_interval_is_refused(
    client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    response = client.post("/checkout/memberships/reader", data={"interval": "week"})
    assert response.status_code == 302
    assert len(fake_stripe.calls) == 0


def test_the_stripe_customer_is_created_once_per_shopper(
    app: Flask, client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    client.post("/checkout/books/the-salt-road", data={"quantity": "1", "ship_to": "GB"})
    client.post("/checkout/books/salt-road-ebook", data={"quantity": "1"})
    customer_calls = sent(stripe_ready, "/v1/customers")
    assert len(customer_calls) == 1
    assert form_of(customer_calls[0])["metadata[user_id]"] == str(shopper)
    with app.app_context():
        assert (
            db.session.execute(db.select(Customer.stripe_customer_id)).scalar_one() == "cus_reader"
        )
    keys = {r.headers["Idempotency-Key"] for r in sent(stripe_ready, "/v1/checkout/sessions")}
    assert len(keys) == 2  # one idempotency key per order


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"error": {"type": "api_error", "message": "Stripe is down"}}),
        (401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}),
        (
            400,
            {
                "error": {
                    "type": "invalid_request_error",
                    "message": "No such price",
                    "param": "line_items[0][price]",
                }
            },
        ),
    ],
)
def test_a_stripe_failure_shows_a_friendly_page_and_keeps_the_order(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    fake_stripe: responses.RequestsMock,
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: dict[str, Any],
) -> None:
    stripe_has_prices(fake_stripe, price("book:the-salt-road", 1299))
    stripe_creates_customer(fake_stripe)
    fake_stripe.add(
        "POST",
        API + "/v1/checkout/sessions",
        status=status,
        json=body,
        headers={"Request-Id": "req_outage1"},
    )
    response = client.post("/checkout/books/the-salt-road", data={"quantity": "1", "ship_to": "GB"})
    assert response.status_code == 503
    assert "We couldn't open the payment page" in response.text
    assert "Traceback" not in response.text
    assert "req_outage1" in caplog.text
    assert "sk_test_unit" not in caplog.text
    with app.app_context():
        order = db.session.execute(db.select(Order)).scalar_one()
        assert order.status == "pending" and order.checkout_session_id is None
        order_id = order.id

    # Stripe is back: "Try again" reuses the saved order, with a fresh idempotency key.
    fake_stripe.remove("POST", API + "/v1/checkout/sessions")
    stripe_creates_session(fake_stripe)
    retry = client.post(f"/orders/{order_id}/resume")
    assert retry.status_code == 303 and retry.location == SESSION_URL
    attempts = sent(fake_stripe, "/v1/checkout/sessions")
    assert attempts[0].headers["Idempotency-Key"] != attempts[-1].headers["Idempotency-Key"]
    with app.app_context():
        assert db.session.get(Order, order_id).checkout_session_id == "cs_test_a1"


def test_a_network_failure_shows_the_friendly_page(
    app: Flask, client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    fake_stripe.add(
        "GET", re.compile(API + r"/v1/prices\?.*"), body=requests.ConnectionError("no route")
    )
    response = client.post("/checkout/books/the-salt-road", data={"quantity": "1", "ship_to": "GB"})
    assert response.status_code == 503
    assert "your order is saved" in response.text
    with app.app_context():
        assert "APIConnectionError" in (
            db.session.execute(db.select(Order.last_error)).scalar_one() or ""
        )


def test_forms_without_a_csrf_token_are_refused(
    fake_stripe: responses.RequestsMock, make_app: Callable[..., Flask]
) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
    helpers.add_user(app)
    client = app.test_client()
    assert (
        client.post("/login", data={"email": "reader@example.com", "password": "x"}).status_code
        == 400
    )
    assert client.post("/checkout/books/the-salt-road", data={"quantity": "1"}).status_code in (
        302,
        400,
    )
    assert len(fake_stripe.calls) == 0
    # ...while the webhook stays reachable without one (it is signed instead).
    assert client.post("/webhooks/stripe", data=b"{}").status_code == 400


def test_returning_to_an_order_already_paid_never_opens_a_second_payment(
    app: Flask, client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    """The tab was closed after paying and the webhook is late: Quire records the payment."""
    client.post("/checkout/books/salt-road-ebook", data={"quantity": "1"})
    paid = example(
        "checkout.session", id="cs_test_a1", client_reference_id="order-1", status="complete",
        payment_status="paid", amount_total=699, currency="gbp", url=None, subscription=None,
        payment_intent={"id": "pi_1", "object": "payment_intent", "status": "succeeded"},
    )  # fmt: skip
    stripe_ready.add(
        "GET", re.compile(API + r"/v1/checkout/sessions/cs_test_a1(\?.*)?$"), json=paid
    )
    again = client.post("/orders/1/resume")
    assert again.status_code == 303
    assert again.location == "http://shop.test/orders/1/confirmation?session_id=cs_test_a1"
    assert len(sent(stripe_ready, "/v1/checkout/sessions")) == 1  # no second session
    with app.app_context():
        assert db.session.get(Order, 1).status == "paid"


def test_a_second_tab_for_the_same_membership_reuses_the_open_payment_another_replaces_it(
    app: Flask, client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    first = client.post("/checkout/memberships/reader", data={"interval": "month"})
    open_session = example("checkout.session", id="cs_test_a1", status="open", url=SESSION_URL)
    stripe_ready.add(
        "GET", re.compile(API + r"/v1/checkout/sessions/cs_test_a1(\?.*)?$"), json=open_session
    )
    second = client.post("/checkout/memberships/reader", data={"interval": "month"})
    assert first.location == second.location == SESSION_URL
    assert len(sent(stripe_ready, "/v1/checkout/sessions")) == 1
    # Another interval replaces the unpaid sign-up: its payment page is closed at Stripe.
    expired = {**open_session, "status": "expired", "url": None}
    stripe_ready.add("POST", API + "/v1/checkout/sessions/cs_test_a1/expire", json=expired)
    other_interval = client.post("/checkout/memberships/reader", data={"interval": "year"})
    assert other_interval.location == SESSION_URL.replace("cs_test_a1", "cs_test_a2")
    assert len(sent(stripe_ready, "/v1/checkout/sessions/cs_test_a1/expire")) == 1
    with app.app_context():
        statuses = db.session.execute(db.select(Order.status).order_by(Order.id)).scalars()
        assert list(statuses) == ["expired", "pending"]


def test_copies_are_held_while_their_order_can_still_be_paid(
    app: Flask, client: FlaskClient, shopper: int, stripe_ready: responses.RequestsMock
) -> None:
    """Letters from the Lighthouse has 5 copies: held by an open checkout, then given back
    when it lapses without a word from Stripe."""
    assert (
        client.post(
            "/checkout/books/letters-from-the-lighthouse", data={"quantity": "3", "ship_to": "GB"}
        ).status_code
        == 303
    )
    params = form_of(sent(stripe_ready, "/v1/checkout/sessions")[0])
    assert 30 * 60 <= int(params["expires_at"]) - time.time() < 40 * 60
    helpers.add_user(app, "other@example.com")
    other = app.test_client()
    helpers.sign_in(other, "other@example.com")
    refused = other.post(
        "/checkout/books/letters-from-the-lighthouse", data={"quantity": "3", "ship_to": "GB"}
    )
    assert (
        "Only 2 copies of Letters from the Lighthouse are left" in other.get(refused.location).text
    )
    assert "2 copies left" in client.get("/books/letters-from-the-lighthouse").text

    with app.app_context():
        order = db.session.get(Order, 1)
        order.expires_at = order.expires_at - timedelta(hours=1)  # its page lapsed, unannounced
        db.session.commit()
    assert "Expired" in client.get("/orders/1").text
    assert "5 copies left" in client.get("/books/letters-from-the-lighthouse").text
