"""Whatever order Stripe delivers a subscription's events in, Quire ends in Stripe's state."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import responses
from flask import Flask

from shop.extensions import db
from shop.models import Invoice, Order, OrderItem, ProcessedEvent, Subscription
from tests import builders
from tests.stripe_fakes import event


def lifecycle() -> list[dict[str, Any]]:
    """Sign-up, activation, payment and a cancellation request: five events."""
    incomplete = builders.subscription(status="incomplete")
    active = builders.subscription(status="active")
    cancelling = builders.subscription(status="active", cancel_at_period_end=True)
    completed = builders.session(
        session_id="cs_sub",
        mode="subscription",
        subscription="sub_1",
        amount_total=900,
        payment_intent=None,
    )
    return [
        event("checkout.session.completed", completed),
        event("customer.subscription.created", incomplete),
        event(
            "customer.subscription.updated", active, previous_attributes={"status": "incomplete"}
        ),
        event("invoice.paid", builders.invoice()),
        event(
            "customer.subscription.updated",
            cancelling,
            previous_attributes={"cancel_at_period_end": False},
        ),
    ]


def snapshot(app: Flask) -> tuple[Any, ...]:
    with app.app_context():
        sub = db.session.execute(db.select(Subscription)).scalar_one()
        order = db.session.execute(db.select(Order)).scalar_one()
        invoice = db.session.execute(db.select(Invoice)).scalar_one()
        return (
            sub.status,
            sub.cancel_at_period_end,
            sub.plan_key,
            sub.interval,
            sub.user_id,
            sub.current_period_end,
            order.status,
            order.stripe_subscription_id,
            invoice.status,
            invoice.amount_paid,
        )


def test_every_delivery_order_of_a_subscription_lifecycle_converges(
    app: Flask, fake_stripe: responses.RequestsMock, post_event: Callable[..., Any]
) -> None:
    # What Stripe holds once everything has happened; handlers re-read it on each event.
    final_sub = builders.subscription(status="active", cancel_at_period_end=True)
    final_session = builders.session(
        session_id="cs_sub",
        mode="subscription",
        subscription=final_sub,
        amount_total=900,
        payment_intent=None,
    )
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", final_sub)
    builders.stripe_serves(fake_stripe, "/v1/invoices/in_1", builders.invoice())
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_sub", final_session)
    events = lifecycle()

    outcomes = set()
    orders = list(itertools.permutations(events))
    assert len(orders) == 120
    for delivery in orders:
        with app.app_context():
            for model in (ProcessedEvent, Invoice, Subscription, OrderItem, Order):
                db.session.execute(db.delete(model))
            db.session.commit()
        builders.add_order(app, kind="membership", session_id="cs_sub")
        for body in delivery:
            assert post_event(body).status_code == 200
        outcomes.add(snapshot(app))

    assert len(outcomes) == 1
    (state,) = outcomes
    assert state[:5] == ("active", True, "reader", "month", 1)
    assert state[6:] == ("paid", "sub_1", "paid", 900)
