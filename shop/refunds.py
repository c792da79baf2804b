"""Refunds an admin starts from the shop: checked against what was paid, made once."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation

import stripe

from shop import stripe_api
from shop.checkout import stock
from shop.extensions import db
from shop.models import Order, OrderStatus
from shop.money import exponent, format_money

log = logging.getLogger(__name__)

REFUNDABLE = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


class RefundRefused(ValueError):
    """The refund cannot be made (the message says why, for the admin)."""


def parse_amount(text: str, currency: str) -> int | None:
    """An amount typed by a person ("5" or "4.99") in minor units; blank means all."""
    text = text.strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as error:
        raise RefundRefused(f"{text!r} is not an amount.") from error
    minor = value.scaleb(exponent(currency))
    if minor != minor.to_integral_value() or minor <= 0:
        raise RefundRefused(f"{text!r} is not a positive amount in {currency.upper()}.")
    return int(minor)


def refundable(order: Order) -> int:
    """What is left to refund on an order, in minor units."""
    if order.status not in REFUNDABLE or not order.amount_paid:
        return 0
    return order.amount_paid - order.amount_refunded


def refund_order(
    client: stripe.StripeClient, order: Order, amount: int | None, *, restock: bool = False
) -> int:
    """Refund `amount` (all that is left when None) of a paid order; returns the amount.

    With `restock`, a refund that leaves the order fully refunded puts its copies of
    stock-limited books back on sale (once; a partial refund keeps them sold).

    A double-clicked button refunds once (see `stripe_api.refund_payment`). The order is
    updated from the charge right away (the `charge.refunded` webhook will find nothing
    left to change). :raise StripeFailure: when Stripe refuses or cannot be reached.
    """
    left = refundable(order)
    if left <= 0 or order.payment_intent_id is None:
        raise RefundRefused(f"Order #{order.id} has nothing left to refund.")
    amount = left if amount is None else amount
    if amount > left:
        raise RefundRefused(
            f"At most {format_money(left, order.currency)} is left to refund on order #{order.id}."
        )
    order_id, intent_id, refunded_before = order.id, order.payment_intent_id, order.amount_refunded
    db.session.commit()  # no transaction open across the Stripe calls
    refund = stripe_api.refund_payment(client, order_id, intent_id, amount, refunded_before)
    charge_id = refund.charge if isinstance(refund.charge, str) else None
    if charge_id:
        stripe_api.sync_charge(client, charge_id)
        db.session.commit()
    if restock and order.status == OrderStatus.REFUNDED:
        stock.restock(order)
        db.session.commit()
    log.info("refunded %s of order #%s (%s)", amount, order.id, refund.id)
    return amount
