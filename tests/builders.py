"""Stripe objects in the current API shapes, and orders for them to act on."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import Any

import responses
from flask import Flask

from shop.extensions import db
from shop.models import (
    WAS_PAID,
    Invoice,
    MoneyMovement,
    Order,
    OrderItem,
    Subscription,
    User,
)
from tests.stripe_fakes import API, answering, example

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
    """GET `path` (any query) answers `body` as Stripe would, its fields expanded only as
    the request asks (`stripe_fakes.as_answered`); replaces an earlier answer for it."""
    url = re.compile(re.escape(API + path) + r"(\?.*)?$")
    mock.upsert(responses.CallbackResponse("GET", url, answering(body, status)))


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


def _noon(now: datetime, days_ago: int) -> datetime:
    """Noon UTC, `days_ago` calendar days before `now`'s day."""
    return datetime.combine(now.date() - timedelta(days=days_ago), dt_time(12), UTC)


def scripted_history(app: Flask, now: datetime) -> None:
    """A shop's recent past, written straight into Quire's records (no Stripe), each
    happening `n` days before `now` at noon UTC — `tests/test_dashboard.py` asserts
    every dashboard figure for it:

    Books: two copies of The Salt Road paid 10 days ago (one partly refunded, £5.00, 5
    days ago), Quiet Machines paid in US dollars 3 days ago, a checkout that expired 8
    days ago, one whose payment failed 2 days ago, a book paid 40 days ago, an order
    that never reached Checkout. Reader memberships (£9.00 a month unless said): one
    since 60 days (renewed 25 days ago); a 20%-discounted one whose 14-day trial began
    20 days ago and converted 6 days ago; a trial begun 14 days ago that ended unpaid 4
    days ago; a yearly one (£90.00) since 50 days, cancelling; one since 45 days whose
    renewal made 15 days ago failed, then was paid 12 days ago; one since 40 days past
    due on a renewal made 9 days ago; one since 70 days that ended 7 days ago; a trial
    begun 3 days ago; and a membership checkout that expired 2 days ago.
    """
    with app.app_context():
        # Written again (another `now`), the history gets new ids and addresses.
        earlier = db.session.execute(db.select(db.func.count(User.id))).scalar_one()
        counter = iter(range(earlier + 1, earlier + 1000))
        tag = "history" if earlier == 0 else f"history{earlier}"

        def user() -> User:
            found = User(email=f"member{next(counter)}@example.com")
            found.set_password("correct horse battery")
            db.session.add(found)
            return found

        def order(
            key: str,
            days_ago: int,
            status: str,
            amount: int,
            *,
            kind: str = "book",
            currency: str = "gbp",
            session: bool = True,
            sub_id: str | None = None,
        ) -> Order:
            made = Order(
                user=user(),
                kind=kind,
                status=status,
                currency=currency,
                amount_total=amount,
                plan_key=key if kind == "membership" else None,
                stripe_subscription_id=sub_id,
                created_at=_noon(now, days_ago) - timedelta(minutes=5),
            )
            made.items.append(
                OrderItem(
                    item_key=key,
                    lookup_key=f"book:{key}" if kind == "book" else f"plan:{key}:month",
                    description=key,
                    unit_amount=amount,
                    quantity=1,
                )
            )
            db.session.add(made)
            db.session.flush()
            if session:
                made.checkout_session_id = f"cs_{tag}_{made.id}"
            if status in WAS_PAID:
                made.paid_at = _noon(now, days_ago)
                made.amount_paid = amount
                if amount:
                    money(
                        "payment", made.checkout_session_id or "", amount, days_ago, currency, made
                    )
            return made

        def money(
            kind: str,
            stripe_id: str,
            amount: int,
            days_ago: int,
            currency: str = "gbp",
            made: Order | None = None,
            invoice_id: str | None = None,
        ) -> None:
            db.session.add(
                MoneyMovement(
                    kind=kind,
                    stripe_id=stripe_id,
                    order_id=made.id if made else None,
                    stripe_invoice_id=invoice_id,
                    amount=amount,
                    currency=currency,
                    occurred_at=_noon(now, days_ago),
                )
            )

        def membership(
            sub_id: str,
            status: str,
            started: int,
            *,
            amount: int = 900,
            interval: str = "month",
            trial_days: int | None = None,
            ended: int | None = None,
            cancelling: bool = False,
        ) -> None:
            trial_end = _noon(now, started - trial_days) if trial_days else None
            paid_now = 0 if trial_days else (9000 if interval == "year" else 900)
            signup = order("reader", started, "paid", paid_now, kind="membership", sub_id=sub_id)
            db.session.add(
                Subscription(
                    stripe_subscription_id=sub_id,
                    user_id=signup.user_id,
                    stripe_customer_id=f"cus_{sub_id}",
                    plan_key="reader",
                    interval=interval,
                    status=status,
                    cancel_at_period_end=cancelling,
                    trial_end=trial_end,
                    amount=amount,
                    currency="gbp",
                    started_at=_noon(now, started),
                    ended_at=_noon(now, ended) if ended is not None else None,
                    canceled_at=_noon(now, ended) if ended is not None else None,
                )
            )

        def invoice(
            invoice_id: str,
            sub_id: str,
            made: int,
            status: str,
            amount: int,
            attempts: int,
            paid: int | None = None,
        ) -> None:
            db.session.add(
                Invoice(
                    stripe_invoice_id=invoice_id,
                    stripe_subscription_id=sub_id,
                    stripe_customer_id=f"cus_{sub_id}",
                    status=status,
                    billing_reason="subscription_cycle",
                    currency="gbp",
                    amount_due=amount,
                    amount_paid=amount if status == "paid" else 0,
                    attempt_count=attempts,
                    created_at=_noon(now, made) - timedelta(hours=1),
                )
            )
            if paid is not None:
                money("payment", invoice_id, amount, paid, invoice_id=invoice_id)

        order("the-salt-road", 10, "paid", 1299)
        refunded = order("the-salt-road", 10, "partially_refunded", 1299)
        refunded.amount_refunded = 500
        money("refund", f"re_{tag}_1", 500, 5, made=refunded)
        order("quiet-machines", 3, "paid", 2000, currency="usd")
        order("the-salt-road", 8, "expired", 1299)
        order("the-salt-road", 2, "payment_failed", 1299)
        order("the-salt-road", 40, "paid", 1299)
        order("the-salt-road", 1, "pending", 1299, session=False)

        membership(f"sub_{tag}_renewed", "active", 60)
        invoice(f"in_{tag}_renewed", f"sub_{tag}_renewed", 25, "paid", 900, 1, paid=25)
        membership(f"sub_{tag}_converted", "active", 20, amount=720, trial_days=14)
        invoice(f"in_{tag}_converted", f"sub_{tag}_converted", 6, "paid", 720, 1, paid=6)
        membership(f"sub_{tag}_lapsed_trial", "canceled", 14, trial_days=10, ended=4)
        membership(f"sub_{tag}_yearly", "active", 50, amount=9000, interval="year", cancelling=True)
        membership(f"sub_{tag}_recovered", "active", 45)
        invoice(f"in_{tag}_recovered", f"sub_{tag}_recovered", 15, "paid", 900, 2, paid=12)
        membership(f"sub_{tag}_past_due", "past_due", 40)
        invoice(f"in_{tag}_past_due", f"sub_{tag}_past_due", 9, "open", 900, 1)
        membership(f"sub_{tag}_ended", "canceled", 70, ended=7)
        membership(f"sub_{tag}_trialing", "trialing", 3, trial_days=14)
        order("reader", 2, "expired", 900, kind="membership")
        db.session.commit()
