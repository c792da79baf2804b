"""What a shopper is told an order cost today and will cost next, from Quire's own
records: the catalogue price the order was made at and the membership's trial end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shop.catalogue import LookupKey
from shop.extensions import db
from shop.models import Order, Subscription
from shop.wording import is_free_trial


@dataclass(frozen=True)
class FirstPayment:
    """The first payment of a membership that began with a free trial."""

    amount: int
    currency: str
    #: When the trial ends and the payment is taken; None until Stripe's subscription
    #: has been recorded (then `trial_days` after the sign-up is all that is known).
    due: datetime | None
    trial_days: int
    #: "month" or "year": how often it is taken after that.
    interval: str | None


def membership_of(order: Order) -> Subscription | None:
    """The membership a sign-up order started, once Stripe's subscription is recorded."""
    if not order.stripe_subscription_id:
        return None
    found: Subscription | None = db.session.execute(
        db.select(Subscription).filter_by(stripe_subscription_id=order.stripe_subscription_id)
    ).scalar_one_or_none()
    return found


def first_payment(order: Order) -> FirstPayment | None:
    """For a free-trial sign-up: what will be charged, and when; None for anything else.

    The amount is the catalogue price the order was made at, never one read from Stripe.
    """
    if not is_free_trial(order) or not order.items:
        return None
    membership = membership_of(order)
    return FirstPayment(
        amount=order.amount_total,
        currency=order.currency,
        due=membership.trial_end if membership else None,
        trial_days=order.trial_days or 0,
        interval=LookupKey(order.items[0].lookup_key).interval,
    )
