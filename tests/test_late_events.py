"""Events that come late or never: a refund before the completion still leaves the order
paid (when, how much), and `orders reconcile` recovers invoices whose events were lost."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskCliRunner

from shop.extensions import db
from shop.models import Customer, Invoice, Order, Subscription
from tests import builders
from tests.stripe_fakes import API, event, listing


def _paid(app: Flask) -> tuple[Any, ...]:
    with app.app_context():
        order = db.session.get(Order, 1)
        assert order is not None
        return (order.status, order.amount_paid, order.amount_refunded, order.paid_at is not None)


@pytest.mark.parametrize("refund_first", [True, False], ids=["refund-first", "completion-first"])
def test_an_order_refunded_before_its_completion_arrives_still_records_when_and_what_was_paid(
    app: Flask,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
    refund_first: bool,
) -> None:
    builders.add_order(app)
    session = builders.session()
    intent = builders.example("payment_intent", id="pi_1", metadata={"order_id": "1"})
    refunded = builders.charge(amount_refunded=1299, refunded=True, payment_intent=intent)
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", session)
    builders.stripe_serves(fake_stripe, "/v1/charges/ch_1", refunded)
    deliveries = [
        event("charge.refunded", refunded),
        event("checkout.session.completed", session),
    ]
    for body in deliveries if refund_first else reversed(deliveries):
        assert post_event(body).status_code == 200
    assert _paid(app) == ("refunded", 1299, 1299, True)


def test_orders_reconcile_recovers_a_renewal_and_a_failed_payment_whose_invoice_events_never_came(
    app: Flask, fake_stripe: responses.RequestsMock, runner: FlaskCliRunner
) -> None:
    builders.add_order(app, kind="membership")
    with app.app_context():
        db.session.add(Customer(user_id=1, stripe_customer_id="cus_reader"))
        db.session.commit()
    renewal = builders.invoice("in_renewal", billing_reason="subscription_cycle")
    failed = builders.invoice(
        "in_failed",
        status="open",
        amount_paid=0,
        attempt_count=1,
        billing_reason="subscription_cycle",
    )
    strangers = builders.invoice("in_other", sub_id="sub_other", customer="cus_other")
    active = builders.subscription(status="active")
    lists = {
        "/v1/checkout/sessions": [],
        "/v1/subscriptions": [active],
        "/v1/invoices": [renewal, failed, strangers],
        "/v1/charges": [],
    }
    for path, data in lists.items():
        fake_stripe.add("GET", re.compile(API + path + r"\?.*"), json=listing(path, data))

    result = runner.invoke(args=["orders", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "2 invoice(s)" in result.output
    with app.app_context():
        invoices = {
            row.stripe_invoice_id: (row.status, row.amount_paid, row.attempt_count)
            for row in db.session.execute(db.select(Invoice)).scalars()
        }
        assert invoices == {"in_renewal": ("paid", 900, 1), "in_failed": ("open", 0, 1)}
        assert db.session.execute(db.select(Subscription.status)).scalar_one() == "active"
    gets = [call.request.url for call in fake_stripe.calls]
    assert not [url for url in gets if re.search(r"/v1/invoices/in_", url)]  # no GET per item

    again = runner.invoke(args=["orders", "reconcile"])
    assert "0 record(s) changed" in again.output, again.output
