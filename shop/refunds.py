"""Refunds an admin starts from the shop: checked against what was paid, made once.

Each load of an order's admin page gives its refund form a one-time token, signed with
the app's secret: the order, how much had been refunded when the page was made, and a
random nonce. The refund's idempotency key is the order and that nonce, so the same
form sent twice (a double click, a re-sent POST, two tabs racing) is one refund at
Stripe; and the order row is locked while the refund is checked, sent and recorded, so
a second submission waits, then sees the first one's refund and is told so instead of
refunding again. A later, deliberate refund comes from a fresh page, with a new token.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal

import stripe
from itsdangerous import BadSignature, URLSafeSerializer

from shop import stripe_api
from shop.checkout import stock
from shop.extensions import db
from shop.models import Order, OrderStatus
from shop.money import SYMBOLS, exponent, format_money

log = logging.getLogger(__name__)

REFUNDABLE = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)
SALT = "quire.refund-form"
#: The most digits an amount may have: more is a typing accident, never a refund.
MAX_DIGITS = 12
#: "12.99", "1,000.00" or "1000": digits, optional thousands commas, optional fraction.
AMOUNT = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


class RefundRefused(ValueError):
    """The refund cannot be made (the message says why, for the admin)."""


@dataclass(frozen=True)
class RefundToken:
    """What a refund form's token names: the order, what was refunded when the page was
    made, and the nonce that makes the form's refund one request at Stripe."""

    order_id: int
    refunded_before: int
    nonce: str


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT)


def form_token(secret_key: str, order: Order) -> str:
    """A fresh one-time token for `order`'s refund form (a new one per page load)."""
    return _serializer(secret_key).dumps(
        [order.id, order.amount_refunded, secrets.token_urlsafe(16)]
    )


def read_form_token(secret_key: str, token: str, order: Order) -> RefundToken:
    """The token a refund form came back with. :raise RefundRefused: missing, forged or
    made for another order."""
    try:
        order_id, refunded_before, nonce = _serializer(secret_key).loads(token)
    except (BadSignature, TypeError, ValueError) as error:
        raise RefundRefused(
            f"That refund form for order #{order.id} is not one Quire made; "
            "reload the order page and try again."
        ) from error
    if order_id != order.id or not isinstance(refunded_before, int) or not nonce:
        raise RefundRefused(
            f"That refund form is not for order #{order.id}; reload the order page."
        )
    return RefundToken(order_id, refunded_before, str(nonce))


def _shown(text: str) -> str:
    """What the admin typed, shortened for a message (a flash lives in a cookie)."""
    return repr(text if len(text) <= 20 else text[:17] + "...")


def parse_amount(text: str, currency: str) -> int | None:
    """An amount typed by a person in minor units; blank means all that is left.

    Takes what admins type: "10", "10.5", "£10.00", "1,000.00", "12.99 GBP" (the
    currency's own symbol or code, commas between thousands). Anything else — words,
    exponents, infinities, NaN, signs, too many decimals or digits — is refused with a
    message, never an error.
    """
    text = text.strip()
    if not text:
        return None
    number = text
    code = currency.upper()
    symbol = SYMBOLS.get(currency.lower())
    for prefix in (symbol, code):
        if prefix and number.upper().startswith(prefix.upper()):
            number = number[len(prefix) :].strip()
    if number.upper().endswith(code):
        number = number[: -len(code)].strip()
    if len(re.sub(r"\D", "", number)) > MAX_DIGITS or not AMOUNT.fullmatch(number):
        raise RefundRefused(
            f"{_shown(text)} is not an amount: type it like {format_money(1299, currency)}."
        )
    minor = Decimal(number.replace(",", "")).scaleb(exponent(currency))
    if minor != minor.to_integral_value() or minor <= 0:
        raise RefundRefused(f"{_shown(text)} is not a positive amount in {code}.")
    return int(minor)


def refundable(order: Order) -> int:
    """What is left to refund on an order, in minor units."""
    if order.status not in REFUNDABLE or not order.amount_paid:
        return 0
    return order.amount_paid - order.amount_refunded


def refund_order(
    client: stripe.StripeClient,
    order: Order,
    amount: int | None,
    token: RefundToken,
    *,
    restock: bool = False,
) -> int:
    """Refund `amount` (all that is left when None) of a paid order, once per refund
    form (`token`); returns the amount.

    The order row is locked (on databases that lock rows) from the check to the commit,
    Stripe call included, so a second submission of the form waits for the first and
    then finds the order changed since its page was made: refused, nothing sent. Two
    submissions that do meet Stripe send the same idempotency key, so Stripe makes one
    refund. With `restock`, a refund that leaves the order fully refunded puts its copies
    of stock-limited books back on sale (once; a partial refund keeps them sold).

    :raise RefundRefused: nothing (or less) left, the form already used, or Stripe said
        the form's key was used differently. :raise StripeFailure: Stripe refused or
        could not be reached.
    """
    db.session.commit()  # end any read transaction, so the lock below reads fresh
    locked = db.session.execute(
        db.select(Order)
        .filter_by(id=order.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    try:
        if locked.amount_refunded != token.refunded_before:
            raise RefundRefused(
                f"Order #{locked.id} changed since its page was loaded (this form was "
                f"already sent, or another refund was made): "
                f"{format_money(locked.amount_refunded, locked.currency)} refunded so far. "
                "Nothing more was refunded; check the order and refund again if needed."
            )
        left = refundable(locked)
        if left <= 0 or locked.payment_intent_id is None:
            raise RefundRefused(f"Order #{locked.id} has nothing left to refund.")
        amount = left if amount is None else amount
        if amount > left:
            raise RefundRefused(
                f"At most {format_money(left, locked.currency)} is left to refund "
                f"on order #{locked.id}."
            )
        try:
            refund = stripe_api.refund_payment(
                client, locked.id, locked.payment_intent_id, amount, token.nonce
            )
        except stripe_api.RefundKeyReused as reused:
            log.warning("refund of order #%s: key refused: %s", locked.id, reused)
            raise RefundRefused(
                f"Stripe already has a refund from this form for order #{locked.id} "
                "(with another amount, or still in progress), so nothing more was "
                "refunded. Reload the order page to see what was refunded."
            ) from reused
        charge_id = refund.charge if isinstance(refund.charge, str) else None
        if charge_id:
            try:
                stripe_api.sync_charge(client, charge_id)
            except stripe_api.StripeFailure as failure:
                # The refund is made: say so. `charge.refunded` will record it.
                log.warning("refund %s made, charge not read back: %s", refund.id, failure)
        if restock and locked.status == OrderStatus.REFUNDED:
            stock.restock(locked)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    log.info("refunded %s of order #%s (%s)", amount, locked.id, refund.id)
    return amount
