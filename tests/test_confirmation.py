"""The page Stripe sends shoppers back to: the truth, even before the webhook; nobody else's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import responses
from flask import Flask
from flask.testing import FlaskClient

from shop.extensions import db
from shop.models import Order
from tests import builders
from tests.stripe_fakes import event


def status_of(app: Flask, order_id: int) -> str:
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order is not None
        return order.status


def test_returning_before_the_webhook_shows_the_paid_order(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
    sign_in: Callable[..., None],
) -> None:
    order_id = builders.add_order(app)
    sign_in()
    builders.stripe_serves(
        fake_stripe, "/v1/checkout/sessions/cs_test_1", builders.session(order_id=order_id)
    )
    page = client.get(f"/orders/{order_id}/confirmation?session_id=cs_test_1")
    assert page.status_code == 200
    assert "your order is confirmed" in page.text
    assert "£12.99" in page.text
    assert "The Salt Road" in page.text
    assert "cs_test_1" not in page.text and "pi_1" not in page.text  # Stripe's ids stay ours
    assert status_of(app, order_id) == "paid"  # recorded without waiting for the webhook

    # The webhook arriving afterwards changes nothing more.
    assert (
        post_event(
            event("checkout.session.completed", builders.session(order_id=order_id))
        ).status_code
        == 200
    )
    assert status_of(app, order_id) == "paid"


def test_returning_after_the_webhook_shows_the_same(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
    sign_in: Callable[..., None],
) -> None:
    order_id = builders.add_order(app)
    builders.stripe_serves(
        fake_stripe, "/v1/checkout/sessions/cs_test_1", builders.session(order_id=order_id)
    )
    post_event(event("checkout.session.completed", builders.session(order_id=order_id)))
    sign_in()
    page = client.get(f"/orders/{order_id}/confirmation?session_id=cs_test_1")
    assert "your order is confirmed" in page.text
    assert "Paid" in page.text


def test_a_bank_payment_still_clearing_says_so(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    sign_in: Callable[..., None],
) -> None:
    order_id = builders.add_order(app)
    sign_in()
    clearing = builders.session(
        order_id=order_id,
        payment_status="unpaid",
        payment_intent={"id": "pi_1", "object": "payment_intent", "status": "processing"},
    )
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", clearing)
    page = client.get(f"/orders/{order_id}/confirmation?session_id=cs_test_1")
    assert "waiting for your payment to clear" in page.text
    assert status_of(app, order_id) == "awaiting_payment"


def test_a_bare_or_forged_session_id_shows_nothing(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    sign_in: Callable[..., None],
) -> None:
    order_id = builders.add_order(app)
    sign_in()
    assert client.get(f"/orders/{order_id}/confirmation").status_code == 404
    forged = client.get(f"/orders/{order_id}/confirmation?session_id=cs_test_someone_else")
    assert forged.status_code == 404
    assert "Salt Road" not in forged.text
    assert len(fake_stripe.calls) == 0
    assert status_of(app, order_id) == "pending"


def test_another_shoppers_order_is_invisible(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    add_user: Callable[..., int],
    sign_in: Callable[..., None],
) -> None:
    order_id = builders.add_order(app)  # belongs to reader@example.com
    add_user("nosy@example.com")
    sign_in("nosy@example.com")
    for url in (
        f"/orders/{order_id}/confirmation?session_id=cs_test_1",
        f"/orders/{order_id}",
        f"/orders/{order_id}/cancelled",
    ):
        page = client.get(url)
        assert page.status_code == 404, url
        assert "Salt Road" not in page.text
    assert "Salt Road" not in client.get("/account").text
    assert len(fake_stripe.calls) == 0


def test_stripe_being_down_on_return_still_shows_the_saved_order(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    sign_in: Callable[..., None],
) -> None:
    order_id = builders.add_order(app)
    sign_in()
    builders.stripe_serves(
        fake_stripe,
        "/v1/checkout/sessions/cs_test_1",
        {"error": {"type": "api_error", "message": "down"}},
        status=503,
    )
    page = client.get(f"/orders/{order_id}/confirmation?session_id=cs_test_1")
    assert page.status_code == 200
    assert "your order is safe" in page.text
    assert "Traceback" not in page.text


def test_the_cancel_page_keeps_the_order_and_offers_to_resume(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    sign_in: Callable[..., None],
) -> None:
    order_id = builders.add_order(app)
    sign_in()
    page = client.get(f"/orders/{order_id}/cancelled")
    assert "No payment was taken" in page.text
    assert "Return to payment" in page.text
    open_session = builders.session(
        order_id=order_id,
        status="open",
        payment_status="unpaid",
        url="https://checkout.stripe.com/c/pay/cs_test_1",
    )
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", open_session)
    resumed = client.post(f"/orders/{order_id}/resume")
    assert resumed.status_code == 303
    assert resumed.location == "https://checkout.stripe.com/c/pay/cs_test_1"
    assert status_of(app, order_id) == "pending"
