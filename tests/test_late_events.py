"""Events that come late: a refund before the completion still leaves the order paid
(when, how much)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import responses
from flask import Flask

from shop.extensions import db
from shop.models import Order
from tests import builders
from tests.stripe_fakes import event


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
