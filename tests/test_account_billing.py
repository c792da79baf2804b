"""The shopper's "Manage billing" button: Stripe's portal, or the friendly page."""

from __future__ import annotations

from urllib.parse import parse_qs

import responses
from flask import Flask
from flask.testing import FlaskClient

from shop.extensions import db
from shop.models import Customer
from tests.stripe_fakes import API


def _is_a_customer(app: Flask, user_id: int) -> None:
    with app.app_context():
        db.session.add(Customer(user_id=user_id, stripe_customer_id="cus_reader"))
        db.session.commit()


def test_billing_opens_stripe_s_portal_coming_back_to_the_account_page(
    app: Flask, client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    _is_a_customer(app, shopper)
    fake_stripe.add(
        "POST",
        API + "/v1/billing_portal/sessions",
        json={"id": "bps_1", "object": "billing_portal.session", "url": "https://portal.test/1"},
    )
    response = client.post("/account/billing")
    assert response.status_code == 303
    assert response.location == "https://portal.test/1"
    sent = {k: v[0] for k, v in parse_qs(fake_stripe.calls[0].request.body).items()}
    assert sent == {"customer": "cus_reader", "return_url": "http://shop.test/account"}


def test_billing_shows_the_friendly_page_when_stripe_refuses(
    app: Flask, client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    _is_a_customer(app, shopper)
    fake_stripe.add(
        "POST",
        API + "/v1/billing_portal/sessions",
        status=500,
        json={"error": {"type": "api_error", "message": "down"}},
    )
    response = client.post("/account/billing")
    assert response.status_code == 503
    assert "Traceback" not in response.text


def test_billing_without_a_stripe_customer_calls_nothing(
    client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    response = client.post("/account/billing")
    assert response.status_code == 302
    assert len(fake_stripe.calls) == 0
