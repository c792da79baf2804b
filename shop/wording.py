"""How Quire words things for shoppers: statuses in plain words, each with a tone that
picks its colour; counts with the right plural; why a payment failed.

Shoppers never read a raw status (`awaiting_payment`), a Stripe code or a Stripe id:
templates ask here. Nothing here touches the database or Stripe.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from shop.models import Order, OrderStatus, Subscription


class Tone(enum.StrEnum):
    """How a status feels, and the colour it is shown in (CSS class `tone-<tone>`)."""

    GOOD = "good"
    WAITING = "waiting"
    BAD = "bad"
    NEUTRAL = "neutral"


@dataclass(frozen=True)
class Status:
    """A status as a shopper reads it."""

    text: str
    tone: Tone

    @property
    def css_class(self) -> str:
        return f"status tone-{self.tone}"


#: Every order status in plain words. A trial sign-up that cost nothing today is
#: worded by `order_status`, not "Paid".
ORDER_STATUSES: dict[OrderStatus, Status] = {
    OrderStatus.PENDING: Status("Not paid yet", Tone.WAITING),
    OrderStatus.AWAITING_PAYMENT: Status("Payment on its way", Tone.WAITING),
    OrderStatus.EXPIRED: Status("Expired", Tone.NEUTRAL),
    OrderStatus.PAYMENT_FAILED: Status("Payment failed", Tone.BAD),
    OrderStatus.CANCELLED: Status("Cancelled", Tone.NEUTRAL),
    OrderStatus.PAID: Status("Paid", Tone.GOOD),
    OrderStatus.PARTIALLY_REFUNDED: Status("Partly refunded", Tone.NEUTRAL),
    OrderStatus.REFUNDED: Status("Refunded", Tone.NEUTRAL),
    OrderStatus.DISPUTED: Status("Payment disputed", Tone.BAD),
}
FREE_TRIAL_STARTED = Status("Free trial started", Tone.GOOD)

#: Every Stripe subscription status in plain words.
MEMBERSHIP_STATUSES: dict[str, Status] = {
    "trialing": Status("Free trial", Tone.GOOD),
    "active": Status("Active", Tone.GOOD),
    "past_due": Status("Payment overdue", Tone.BAD),
    "unpaid": Status("Unpaid", Tone.BAD),
    "incomplete": Status("Waiting for the first payment", Tone.WAITING),
    "incomplete_expired": Status("Never started", Tone.NEUTRAL),
    "paused": Status("Paused", Tone.NEUTRAL),
    "canceled": Status("Ended", Tone.NEUTRAL),
}
#: A live membership set to cancel at the end of its period: still usable, but ending.
ENDING = Status("Ending", Tone.NEUTRAL)
UNKNOWN = Status("Unknown", Tone.NEUTRAL)


def is_free_trial(order: Order) -> bool:
    """A membership sign-up that began with a free trial: Stripe charged it nothing."""
    return bool(order.trial_days) and order.amount_paid == 0


def order_status(order: Order) -> Status:
    """The order's status as the shopper reads it."""
    if order.status == OrderStatus.PAID and is_free_trial(order):
        return FREE_TRIAL_STARTED
    try:
        return ORDER_STATUSES[OrderStatus(order.status)]
    except ValueError:
        return UNKNOWN


def membership_status(membership: Subscription) -> Status:
    """The membership's status as the member reads it; one that is ending is not "Active"."""
    if membership.cancel_at_period_end and membership.is_live:
        return ENDING
    return MEMBERSHIP_STATUSES.get(membership.status, UNKNOWN)


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """`counted(1, "copy", "copies") == "1 copy"`; `counted(2, "book") == "2 books"`."""
    word = singular if number == 1 else plural or f"{singular}s"
    return f"{number} {word}"


#: Why a payment failed, by the code Stripe gave (its `decline_code`, else its `code`).
FAILURE_REASONS = {
    "insufficient_funds": "There wasn't enough money in the account.",
    "expired_card": "The card has expired.",
    "incorrect_cvc": "The card's security code was wrong.",
    "incorrect_number": "The card number was wrong.",
    "lost_card": "The card has been reported lost.",
    "stolen_card": "The card has been reported stolen.",
    "card_velocity_exceeded": "The card has reached its spending limit.",
    "authentication_required": "Your bank asked you to confirm the payment, and it wasn't.",
    "payment_intent_authentication_failure": "The payment wasn't confirmed with your bank.",
    "debit_not_authorized": "Your bank says the Direct Debit wasn't authorised.",
    "account_closed": "The bank account has been closed.",
    "no_account": "The bank account couldn't be found.",
    "processing_error": "Something went wrong while the payment was processed.",
}
GENERIC_FAILURE = "Your bank or card issuer didn't approve the payment."


def failure_reason(order: Order) -> str:
    """Why the order's payment failed, in plain words, from what was recorded on it
    (`last_error` holds `decline_code=…` / `code=…`, never shown as it is).
    """
    recorded = order.last_error or ""
    for field in ("decline_code", "code"):
        found = re.search(rf"\b{field}=([a-z_]+)", recorded)
        if found and found.group(1) in FAILURE_REASONS:
            return FAILURE_REASONS[found.group(1)]
    return GENERIC_FAILURE
