"""Saved cards end to end against the sandbox: Checkout saves the card, the account page
lists it from Stripe, and only its owner can remove it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from stripe_sandbox.flows import engine

from shop.extensions import db
from shop.models import Customer
from tests.integration.live_shop import LiveShop

pytestmark = pytest.mark.sandbox


def test_a_card_saved_at_checkout_is_listed_and_only_its_owner_can_remove_it(
    live_shop: LiveShop,
) -> None:
    client = live_shop.signed_in_shopper()
    start = client.post("/checkout/books/the-salt-road", data={"quantity": "1", "ship_to": "GB"})
    assert start.status_code == 303
    session_id = start.location.rstrip("/").rsplit("/", 1)[-1]
    session = live_shop.stripe_client.v1.checkout.sessions.retrieve(session_id)
    assert session.saved_payment_method_options is not None
    assert session.saved_payment_method_options.payment_method_save == "enabled"

    expiry_year = datetime.now(UTC).year + 3
    details = engine.PaymentDetails(
        email="reader@example.com",
        card_number="4242424242424242",
        exp_month=12,
        exp_year=expiry_year,
        cvc="123",
        cardholder_name="Ada Reader",
        save_card=True,  # the shopper ticks "Save my card for future purchases"
        shipping={
            "name": "Ada Reader",
            "line1": "1 Quay St",
            "city": "Bristol",
            "postal_code": "BS1 4DJ",
            "country": "GB",
        },
    )
    paid = engine.pay_checkout_session(live_shop.sandbox.state, session_id, details)
    assert paid.status == "succeeded"

    account = client.get("/account").text
    assert "Visa ending 4242" in account
    assert f"Expires 12/{expiry_year % 100:02d}" in account

    customer_id = live_shop.read(
        lambda: db.session.execute(db.select(Customer.stripe_customer_id)).scalar_one()
    )
    (card,) = live_shop.stripe_client.v1.customers.payment_methods.list(
        customer_id, params={"type": "card"}
    ).data

    # Someone else sending that card's id removes nothing.
    nosy = live_shop.signed_in_shopper("nosy@example.com")
    assert nosy.post(f"/account/cards/{card.id}/remove").status_code == 404
    assert live_shop.stripe_client.v1.payment_methods.retrieve(card.id).customer == customer_id

    removed = client.post(f"/account/cards/{card.id}/remove")
    assert removed.status_code == 303
    assert live_shop.stripe_client.v1.payment_methods.retrieve(card.id).customer is None
    page = client.get("/account").text
    assert "Visa ending 4242 was removed." in page
    assert "No saved cards" in page
