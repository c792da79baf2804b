"""One Stripe customer per user, created on their first purchase."""

from __future__ import annotations

import stripe
from flask import current_app
from sqlalchemy.exc import IntegrityError

from shop import stripe_api
from shop.extensions import db
from shop.models import Customer, User


def ensure_customer(client: stripe.StripeClient, user: User, known: str | None) -> str:
    """The user's Stripe customer id (`known`, when they have one), creating it once.

    Stripe gives two simultaneous first purchases the same customer (the idempotency key
    is derived from the user); the unique constraint keeps one local row. With
    `STRIPE_TEST_CLOCKS` (development) the customer lives on a test clock of its own.
    """
    if known is not None:
        return known
    on_test_clock = bool(current_app.config.get("STRIPE_TEST_CLOCKS"))
    customer_id = stripe_api.create_customer(client, user, on_test_clock=on_test_clock)
    try:
        db.session.add(Customer(user_id=user.id, stripe_customer_id=customer_id))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = db.session.execute(
            db.select(Customer.stripe_customer_id).filter_by(user_id=user.id)
        ).scalar_one()
        db.session.commit()
        return str(existing)
    return customer_id
