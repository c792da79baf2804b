"""Quire and the sandbox end to end: the shopper's actions are the hosted pages' engine calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from stripe_sandbox.flows import engine
from stripe_sandbox.testing import running_sandbox

from shop.extensions import db
from shop.models import CartLine, Invoice, Order, ProcessedEvent, StockLevel, Subscription
from tests import helpers
from tests.integration.live_shop import LiveShop

pytestmark = pytest.mark.sandbox

VISA = "4242424242424242"
DECLINE = "4000000000000002"
FAILS_LATER = "4000000000000341"
AUTHENTICATES_THEN_DECLINES = "4000008260003178"
DISPUTED = "4000000000000259"


def card(number: str, email: str = "reader@example.com") -> engine.PaymentDetails:
    return engine.PaymentDetails(
        email=email,
        card_number=number,
        exp_month=12,
        exp_year=datetime.now(UTC).year + 3,
        cvc="123",
        cardholder_name="Ada Reader",
        shipping={
            "name": "Ada Reader",
            "line1": "1 Quay St",
            "city": "Bristol",
            "postal_code": "BS1 4DJ",
            "country": "GB",
        },
    )


def session_id_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def order(live_shop: LiveShop, order_id: int = 1) -> Order:
    def read() -> Order:
        found = db.session.get(Order, order_id)
        assert found is not None
        db.session.expunge(found)
        return found

    return live_shop.read(read)


def test_sync_into_the_sandbox_is_idempotent(live_shop: LiveShop) -> None:
    prices = list(live_shop.stripe_client.v1.prices.list(params={"limit": 100}).auto_paging_iter())
    assert len(prices) == 11
    assert {p.lookup_key for p in prices} >= {"book:the-salt-road", "plan:patron:year"}
    again = live_shop.app.test_cli_runner().invoke(args=["catalog", "sync"])
    assert again.exit_code == 0, again.output
    assert "Stripe already matches the catalogue: no changes." in again.output
    assert "Billing portal configuration: no changes." in again.output


def test_buying_a_book_pays_the_order_through_redirect_and_webhook(live_shop: LiveShop) -> None:
    client = live_shop.signed_in_shopper()
    start = client.post("/checkout/books/the-salt-road", data={"quantity": "2", "ship_to": "GB"})
    assert start.status_code == 303
    session_id = session_id_of(start.location)
    session = live_shop.stripe_client.v1.checkout.sessions.retrieve(
        session_id, params={"expand": ["line_items"]}
    )
    # Two copies at 12.99 and the test catalogue's cheapest postage to GB (2.85).
    assert session.amount_total == 2598 + 285
    assert session.line_items is not None
    assert session.line_items.data[0].quantity == 2

    outcome = engine.pay_checkout_session(live_shop.sandbox.state, session_id, card(VISA))
    assert outcome.status == "succeeded"
    assert outcome.redirect_url == f"{live_shop.url}/orders/1/confirmation?session_id={session_id}"

    page = client.get(outcome.redirect_url.removeprefix(live_shop.url))
    assert "your order is confirmed" in page.text
    assert "£25.98" in page.text
    assert order(live_shop).status == "paid"
    # The webhook arrives too, and finds nothing left to change.
    kinds = live_shop.wait_for(
        lambda: (
            {e.type for e in db.session.execute(db.select(ProcessedEvent)).scalars()}
            >= {"checkout.session.completed"}
        )
    )
    assert kinds
    assert (order(live_shop).status, order(live_shop).amount_paid) == ("paid", 2598 + 285)
    assert order(live_shop).shipping_amount == 285


def test_a_decline_keeps_the_session_open_and_a_retry_pays(live_shop: LiveShop) -> None:
    client = live_shop.signed_in_shopper()
    session_id = session_id_of(
        client.post("/checkout/books/salt-road-ebook", data={"quantity": "1"}).location
    )
    declined = engine.pay_checkout_session(live_shop.sandbox.state, session_id, card(DECLINE))
    assert declined.status == "declined"
    assert declined.message == "Your card was declined."
    assert live_shop.stripe_client.v1.checkout.sessions.retrieve(session_id).status == "open"
    assert (
        engine.pay_checkout_session(live_shop.sandbox.state, session_id, card(VISA)).status
        == "succeeded"
    )
    assert live_shop.wait_for(lambda: db.session.get(Order, 1).status == "paid")  # by webhook alone


def test_refunds_reach_the_order_by_webhook(live_shop: LiveShop) -> None:
    client = live_shop.signed_in_shopper()
    session_id = session_id_of(
        client.post(
            "/checkout/books/winter-orchard", data={"quantity": "1", "ship_to": "GB"}
        ).location
    )
    engine.pay_checkout_session(live_shop.sandbox.state, session_id, card(VISA))
    assert live_shop.wait_for(lambda: db.session.get(Order, 1).status == "paid")
    intent = order(live_shop).payment_intent_id
    assert intent
    live_shop.stripe_client.v1.refunds.create(params={"payment_intent": intent, "amount": 400})
    assert live_shop.wait_for(lambda: db.session.get(Order, 1).status == "partially_refunded")
    live_shop.stripe_client.v1.refunds.create(params={"payment_intent": intent})
    assert live_shop.wait_for(lambda: db.session.get(Order, 1).status == "refunded")
    assert order(live_shop).amount_refunded == 1000 + 285  # the book and its postage


def test_an_order_s_idempotency_key_gives_back_the_same_session(live_shop: LiveShop) -> None:
    params: Any = {
        "mode": "payment",
        "success_url": "https://x.test/ok",
        "line_items": [
            {
                "price": live_shop.stripe_client.v1.prices.list(
                    params={"lookup_keys": ["book:winter-orchard"]}
                )
                .data[0]
                .id,
                "quantity": 1,
            }
        ],
    }
    first = live_shop.stripe_client.v1.checkout.sessions.create(
        params=params, options={"idempotency_key": "order-7-1"}
    )
    again = live_shop.stripe_client.v1.checkout.sessions.create(
        params=params, options={"idempotency_key": "order-7-1"}
    )
    assert first.id == again.id
    assert len(list(live_shop.stripe_client.v1.checkout.sessions.list().auto_paging_iter())) == 1


def _member_on_a_clock(live_shop: LiveShop) -> tuple[FlaskClient, str]:
    """A signed-in shopper whose Stripe customer lives on a test clock."""
    client = live_shop.signed_in_shopper()
    return client, live_shop.customer_on_a_clock()


def test_a_trial_turns_past_due_when_the_card_fails_at_its_end(live_shop: LiveShop) -> None:
    client, clock_id = _member_on_a_clock(live_shop)
    start = client.post("/checkout/memberships/reader", data={"interval": "month"})
    outcome = engine.pay_checkout_session(
        live_shop.sandbox.state, session_id_of(start.location), card(FAILS_LATER)
    )
    assert outcome.status == "succeeded"
    trialing = live_shop.wait_for(
        lambda: db.session.execute(
            db.select(Subscription).filter_by(status="trialing")
        ).scalar_one_or_none()
    )
    assert trialing is not None
    # No payment was due (the trial is free), and the order is complete all the same.
    assert live_shop.wait_for(lambda: db.session.get(Order, 1).status == "paid")

    live_shop.advance_clock(clock_id, days=15)
    past_due = live_shop.wait_for(
        lambda: db.session.execute(
            db.select(Subscription).filter_by(status="past_due")
        ).scalar_one_or_none()
    )
    assert past_due is not None
    assert past_due.plan_key == "reader"


def test_a_renewal_is_paid_and_moves_the_period_on(live_shop: LiveShop) -> None:
    client, clock_id = _member_on_a_clock(live_shop)
    start = client.post("/checkout/memberships/patron", data={"interval": "month"})
    engine.pay_checkout_session(live_shop.sandbox.state, session_id_of(start.location), card(VISA))
    first = live_shop.wait_for(
        lambda: db.session.execute(
            db.select(Subscription).filter_by(status="active")
        ).scalar_one_or_none()
    )
    assert first is not None and first.current_period_end is not None
    live_shop.advance_clock(clock_id, days=32)
    renewed = live_shop.wait_for(
        lambda: db.session.execute(
            db.select(Subscription).where(
                Subscription.current_period_end > first.current_period_end
            )
        ).scalar_one_or_none()
    )
    assert renewed is not None
    assert renewed.status == "active"


def test_shuffled_and_duplicated_deliveries_end_in_stripe_s_state(
    tmp_path: Path, serve_shop: Callable[..., LiveShop]
) -> None:
    with running_sandbox(
        tmp_path / "s.sqlite3", shuffle_deliveries=True, duplicate_deliveries=True
    ) as sandbox:
        live_shop = serve_shop(sandbox)
        client = live_shop.signed_in_shopper()
        start = client.post("/checkout/memberships/patron", data={"interval": "year"})
        engine.pay_checkout_session(sandbox.state, session_id_of(start.location), card(VISA))
        sub_id = live_shop.wait_for(
            lambda: db.session.execute(
                db.select(Subscription.stripe_subscription_id)
            ).scalar_one_or_none()
        )
        assert sub_id
        sandbox.wait_for_deliveries()
        truth = live_shop.stripe_client.v1.subscriptions.retrieve(sub_id)
        local = live_shop.read(
            lambda: db.session.execute(db.select(Subscription)).scalar_one().status
        )
        assert local == truth.status == "active"
        assert live_shop.read(lambda: db.session.get(Order, 1).status) == "paid"
        sandbox.close_clients()


def test_reconcile_records_what_missed_webhooks_would_have(live_shop: LiveShop) -> None:
    """With the endpoint switched off, `orders reconcile` still brings the records up to date."""
    for endpoint in live_shop.stripe_client.v1.webhook_endpoints.list().data:
        live_shop.stripe_client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})
    client = live_shop.signed_in_shopper()
    book = session_id_of(
        client.post(
            "/checkout/books/quiet-machines", data={"quantity": "1", "ship_to": "GB"}
        ).location
    )
    engine.pay_checkout_session(live_shop.sandbox.state, book, card(VISA))
    membership = session_id_of(
        client.post("/checkout/memberships/patron", data={"interval": "month"}).location
    )
    engine.pay_checkout_session(live_shop.sandbox.state, membership, card(VISA))
    intent = live_shop.stripe_client.v1.checkout.sessions.retrieve(book).payment_intent
    assert isinstance(intent, str)
    live_shop.stripe_client.v1.refunds.create(params={"payment_intent": intent, "amount": 650})
    assert order(live_shop, 1).status == "pending"  # nothing arrived

    result = live_shop.app.test_cli_runner().invoke(args=["orders", "reconcile", "--days", "1"])
    assert result.exit_code == 0, result.output
    assert "order #1: pending → paid" in result.output
    assert "order #1: paid → partially_refunded" in result.output
    assert (order(live_shop, 1).status, order(live_shop, 1).amount_refunded) == (
        "partially_refunded",
        650,
    )
    assert order(live_shop, 2).status == "paid"
    assert (
        live_shop.read(lambda: db.session.execute(db.select(Subscription.status)).scalar_one())
        == "active"
    )

    again = live_shop.app.test_cli_runner().invoke(args=["orders", "reconcile", "--days", "1"])
    assert "0 record(s) changed" in again.output


def test_a_declined_first_membership_payment_leaves_no_membership(live_shop: LiveShop) -> None:
    """Declined on the hosted page (outright, and after 3-D Secure): Stripe creates no
    subscription or invoice, so Quire records no membership and no failed invoice; a
    retry with a good card then makes the one membership."""
    client = live_shop.signed_in_shopper()
    start = client.post("/checkout/memberships/patron", data={"interval": "month"})
    session_id = session_id_of(start.location)
    sandbox = live_shop.sandbox.state
    assert engine.pay_checkout_session(sandbox, session_id, card(DECLINE)).status == "declined"
    challenged = engine.pay_checkout_session(sandbox, session_id, card(AUTHENTICATES_THEN_DECLINES))
    assert challenged.status == "requires_action"
    declined = engine.complete_authentication(sandbox, session_id, approve=True)
    assert (declined.status, declined.decline_code) == ("declined", "insufficient_funds")

    assert live_shop.sandbox.wait_for_deliveries()
    assert live_shop.stripe_client.v1.checkout.sessions.retrieve(session_id).status == "open"
    assert live_shop.stripe_client.v1.subscriptions.list(params={"status": "all"}).data == []
    assert live_shop.read(lambda: db.session.execute(db.select(Subscription)).all()) == []
    assert live_shop.read(lambda: db.session.execute(db.select(Invoice)).all()) == []
    assert order(live_shop).status == "pending"

    assert engine.pay_checkout_session(sandbox, session_id, card(VISA)).status == "succeeded"
    active = live_shop.wait_for(
        lambda: db.session.execute(
            db.select(Subscription).filter_by(status="active")
        ).scalar_one_or_none()
    )
    assert active is not None and active.plan_key == "patron"
    assert live_shop.wait_for(lambda: db.session.get(Order, 1).status == "paid")
    statuses = live_shop.read(lambda: list(db.session.execute(db.select(Invoice.status)).scalars()))
    assert statuses == ["paid"]


def test_a_disputed_payment_marks_the_order_disputed_by_webhook(live_shop: LiveShop) -> None:
    """Stripe's dispute test card pays, then the charge is disputed: the dispute webhook
    reaches Quire's handler over HTTP, which marks the order disputed."""
    client = live_shop.signed_in_shopper()
    session_id = session_id_of(
        client.post(
            "/checkout/books/letters-from-the-lighthouse", data={"quantity": "1", "ship_to": "GB"}
        ).location
    )
    outcome = engine.pay_checkout_session(live_shop.sandbox.state, session_id, card(DISPUTED))
    assert outcome.status == "succeeded"
    assert live_shop.wait_for(lambda: db.session.get(Order, 1).status == "disputed")
    handled = live_shop.read(
        lambda: db.session.execute(
            db.select(ProcessedEvent.outcome).filter_by(type="charge.dispute.created")
        ).scalar_one()
    )
    assert handled == "processed"
    intent = live_shop.stripe_client.v1.checkout.sessions.retrieve(session_id).payment_intent
    (dispute,) = live_shop.stripe_client.v1.disputes.list(
        params={"payment_intent": str(intent)}
    ).data
    assert (dispute.reason, dispute.amount) == ("fraudulent", 2200 + 285)
    # Losing the dispute later changes nothing more: disputed is where the order stays.
    live_shop.stripe_client.v1.disputes.close(dispute.id)
    assert live_shop.sandbox.wait_for_deliveries()
    assert (order(live_shop).status, order(live_shop).amount_paid) == ("disputed", 2200 + 285)


def test_a_printed_book_paid_in_the_sandbox_keeps_its_address_and_can_be_shipped(
    live_shop: LiveShop,
) -> None:
    """The sandbox's session carries the address where the pinned API version puts it
    (`collected_information.shipping_details`); Quire stores it and the admin ships it."""
    client = live_shop.signed_in_shopper()
    start = client.post("/checkout/books/the-salt-road", data={"quantity": "1", "ship_to": "GB"})
    session_id = session_id_of(start.location)
    session = live_shop.stripe_client.v1.checkout.sessions.retrieve(session_id)
    assert session.shipping_address_collection is not None
    assert session.shipping_address_collection.allowed_countries == ["GB"]
    address = {"line1": "1 Quay St", "city": "Bristol", "postal_code": "BS1 4DJ", "country": "GB"}
    details = replace(card(VISA), shipping={"name": "Ada Reader", "address": address})
    outcome = engine.pay_checkout_session(live_shop.sandbox.state, session_id, details)
    client.get(outcome.redirect_url.removeprefix(live_shop.url))
    paid = order(live_shop)
    assert (paid.status, paid.ship_to_country, paid.shipping_name) == ("paid", "GB", "Ada Reader")
    assert paid.shipping_lines == ["1 Quay St", "Bristol", "BS1 4DJ", "United Kingdom"]
    assert "Not shipped yet" in client.get("/orders/1").text

    helpers.add_user(live_shop.app, "owner@example.com", admin=True)
    admin = live_shop.app.test_client()
    helpers.sign_in(admin, "owner@example.com")
    assert "Ada Reader<br>1 Quay St<br>Bristol" in admin.get("/admin/to-ship").text
    admin.post("/admin/orders/1/shipped", data={"tracking_reference": "AB123456789GB"})
    assert "Nothing to ship." in admin.get("/admin/to-ship").text
    assert "AB123456789GB" in client.get("/orders/1").text


def _held_and_sold(book_key: str) -> Callable[[], tuple[int, int]]:
    def read() -> tuple[int, int]:
        level = db.session.get(StockLevel, book_key)
        return (level.held, level.sold) if level else (0, 0)

    return read


def test_a_basket_is_one_stripe_payment_and_leaves_the_basket_when_paid(
    live_shop: LiveShop,
) -> None:
    client = live_shop.signed_in_shopper()
    client.post("/cart/books/letters-from-the-lighthouse", data={"quantity": "2"})
    client.post("/cart/books/salt-road-ebook", data={"quantity": "1"})
    session_id = session_id_of(client.post("/cart/checkout", data={"ship_to": "GB"}).location)
    items = live_shop.stripe_client.v1.checkout.sessions.line_items.list(session_id).data
    assert sorted((item.price.lookup_key, item.quantity) for item in items if item.price) == [
        ("book:letters-from-the-lighthouse", 2),
        ("book:salt-road-ebook", 1),
    ]
    assert live_shop.read(_held_and_sold("letters-from-the-lighthouse")) == (2, 0)
    assert engine.pay_checkout_session(live_shop.sandbox.state, session_id, card(VISA)).status == (
        "succeeded"
    )
    assert live_shop.wait_for(lambda: db.session.get(Order, 1).status == "paid")
    # Printed books over 30.00 go free to GB in the test catalogue: no postage here.
    assert order(live_shop).amount_paid == 2 * 2200 + 699
    assert live_shop.read(_held_and_sold("letters-from-the-lighthouse")) == (0, 2)
    assert live_shop.read(lambda: db.session.execute(db.select(CartLine)).all()) == []


def test_cancelling_expires_the_session_at_stripe_and_gives_the_copies_back(
    live_shop: LiveShop,
) -> None:
    client = live_shop.signed_in_shopper()
    client.post("/cart/books/letters-from-the-lighthouse", data={"quantity": "3"})
    session_id = session_id_of(client.post("/cart/checkout", data={"ship_to": "GB"}).location)
    session = live_shop.stripe_client.v1.checkout.sessions.retrieve(session_id)
    assert session.expires_at >= int(datetime.now(UTC).timestamp()) + 30 * 60 - 5
    client.post("/orders/1/cancel")
    assert live_shop.stripe_client.v1.checkout.sessions.retrieve(session_id).status == "expired"
    assert order(live_shop).status == "cancelled"
    assert live_shop.sandbox.wait_for_deliveries()  # checkout.session.expired arrives too
    assert order(live_shop).status == "cancelled"
    assert live_shop.read(_held_and_sold("letters-from-the-lighthouse")) == (0, 0)
    assert (
        live_shop.read(lambda: db.session.execute(db.select(CartLine.quantity)).scalar_one()) == 3
    )
