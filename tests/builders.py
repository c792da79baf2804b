"""Stripe objects in the current API shapes, and orders for them to act on."""

from __future__ import annotations

import re
import time
from typing import Any

import responses
from flask import Flask

from shop.extensions import db
from shop.models import Order, OrderItem, User
from tests.stripe_fakes import API, example

NOW = int(time.time())


def session(session_id: str = "cs_test_1", order_id: int = 1, **fields: Any) -> dict[str, Any]:
    """A completed, paid payment-mode Checkout Session for `order-<order_id>`."""
    body = example(
        "checkout.session",
        id=session_id,
        client_reference_id=f"order-{order_id}",
        mode="payment",
        status="complete",
        payment_status="paid",
        amount_total=1299,
        amount_subtotal=1299,
        currency="gbp",
        customer="cus_reader",
        payment_intent=example("payment_intent", id="pi_1", status="succeeded"),
        subscription=None,
        url=None,
        metadata={"order_id": str(order_id)},
    )
    body.update(fields)
    return body


def subscription(sub_id: str = "sub_1", **fields: Any) -> dict[str, Any]:
    """A subscription with its billing period on its item, as API 2025-03-31+ sends it."""
    period_end = fields.pop("period_end", NOW + 30 * 86400)
    interval = fields.pop("interval", "month")
    item = example(
        "subscription_item",
        id="si_1",
        subscription=sub_id,
        current_period_start=NOW,
        current_period_end=period_end,
        price=example(
            "price",
            id=f"price_reader_{interval}",
            lookup_key=f"plan:reader:{interval}",
            unit_amount=900,
            currency="gbp",
            recurring={"interval": interval, "interval_count": 1},
        ),
    )
    body = example(
        "subscription",
        id=sub_id,
        customer="cus_reader",
        status="active",
        cancel_at_period_end=False,
        canceled_at=None,
        trial_end=None,
        metadata={"user_id": "1", "plan": "reader", "order_id": "1"},
        items={
            "object": "list",
            "url": f"/v1/subscription_items?subscription={sub_id}",
            "has_more": False,
            "data": [item],
        },
    )
    body.update(fields)
    return body


def invoice(invoice_id: str = "in_1", sub_id: str = "sub_1", **fields: Any) -> dict[str, Any]:
    """An invoice whose subscription sits at `parent.subscription_details.subscription`."""
    body = example(
        "invoice",
        id=invoice_id,
        customer="cus_reader",
        status="paid",
        amount_due=900,
        amount_paid=900,
        currency="gbp",
        attempt_count=1,
        billing_reason="subscription_create",
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"subscription": sub_id, "metadata": {}},
        },
    )
    body.pop("subscription", None)
    body.update(fields)
    return body


def charge(charge_id: str = "ch_1", **fields: Any) -> dict[str, Any]:
    body = example(
        "charge",
        id=charge_id,
        payment_intent="pi_1",
        amount=1299,
        amount_refunded=0,
        refunded=False,
    )
    body.update(fields)
    return body


def stripe_serves(
    mock: responses.RequestsMock, path: str, body: dict[str, Any], status: int = 200
) -> None:
    """GET `path` (any query) answers `body`; replaces an earlier answer for it."""
    mock.upsert("GET", re.compile(re.escape(API + path) + r"(\?.*)?$"), json=body, status=status)


def add_order(
    app: Flask,
    *,
    session_id: str | None = "cs_test_1",
    user_email: str = "reader@example.com",
    kind: str = "book",
) -> int:
    """A pending order of one copy of The Salt Road (or a Reader membership)."""
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=user_email)).scalar_one_or_none()
        if user is None:
            user = User(email=user_email)
            user.set_password("correct horse battery")
            db.session.add(user)
        order = Order(
            user=user, kind=kind, currency="gbp", amount_total=1299 if kind == "book" else 900
        )
        order.items.append(
            OrderItem(
                item_key="the-salt-road" if kind == "book" else "reader",
                lookup_key="book:the-salt-road" if kind == "book" else "plan:reader:month",
                description="The Salt Road — Maren Holt",
                unit_amount=order.amount_total,
                quantity=1,
            )
        )
        order.checkout_session_id = session_id
        db.session.add(order)
        db.session.commit()
        return order.id
