"""Refunds an admin starts from the shop: checked against what was paid, made once.

Each load of an order's admin page gives its refund form a one-time token, signed with
the app's secret: the order and a random nonce. A form is used once: its nonce is claimed (`RefundRequest`, unique per
order) in the same transaction that reserves its amount on the order with a guarded
UPDATE (`Order.amount_refund_reserved`), so the same form sent twice is one refund, and
two forms (two tabs, two admins) that together ask for more than is left cannot both
refund. The refund's idempotency key is the order and that nonce. A later, deliberate
refund comes from a fresh page, with a new token.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal

import stripe
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from shop import mirror, stripe_api
from shop.checkout import stock
from shop.extensions import db
from shop.models import Order, OrderStatus, RefundRequest, RefundRequestState
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
    """What a refund form's token names: the order, and the nonce that makes the form's
    refund one request at Stripe."""

    order_id: int
    nonce: str


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT)


def form_token(secret_key: str, order: Order) -> str:
    """A fresh one-time token for `order`'s refund form (a new one per page load)."""
    return _serializer(secret_key).dumps([order.id, secrets.token_urlsafe(16)])


def read_form_token(secret_key: str, token: str, order: Order) -> RefundToken:
    """The token a refund form came back with. :raise RefundRefused: missing, forged or
    made for another order."""
    try:
        order_id, nonce = _serializer(secret_key).loads(token)
    except (BadSignature, TypeError, ValueError) as error:
        raise RefundRefused(
            f"That refund form for order #{order.id} is not one Quire made; "
            "reload the order page and try again."
        ) from error
    if order_id != order.id or not nonce:
        raise RefundRefused(
            f"That refund form is not for order #{order.id}; reload the order page."
        )
    return RefundToken(order_id, str(nonce))


def _shown(text: str) -> str:
    """What the admin typed, shortened for a message (a flash lives in a cookie)."""
    return repr(text if len(text) <= 20 else text[:17] + "...")


def parse_amount(text: str, currency: str) -> int | None:
    """An amount typed by a person in minor units; None when blank (nothing typed).

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


def amount_asked(text: str, currency: str, *, everything: bool) -> int | None:
    """What a refund form asks for, in minor units; None for "everything left", which
    must be chosen explicitly: a blank amount alone refunds nothing.

    :raise RefundRefused: no amount and no "everything" choice, both at once, or an
        amount that is not one (see `parse_amount`).
    """
    amount = parse_amount(text, currency)
    if amount is None and not everything:
        raise RefundRefused(
            "Type an amount to refund, or press “Refund everything left”. Nothing was refunded."
        )
    if amount is not None and everything:
        raise RefundRefused(
            "Either type an amount or press “Refund everything left”, not both. "
            "Nothing was refunded."
        )
    return amount


def refundable(order: Order) -> int:
    """What is left to refund on an order, in minor units: paid, less refunded, less what
    refund forms have reserved and Stripe has not yet been seen to refund."""
    if order.status not in REFUNDABLE or not order.amount_paid:
        return 0
    return max(0, order.amount_paid - order.amount_refunded - order.amount_refund_reserved)


def _fresh(order_id: int) -> Order:
    """The order as the database has it now (the session's copy refreshed)."""
    found: Order = db.session.execute(
        db.select(Order).filter_by(id=order_id).execution_options(populate_existing=True)
    ).scalar_one()
    return found


def _already_sent(order: Order, request: RefundRequest) -> RefundRefused:
    return RefundRefused(
        f"This refund form for order #{order.id} was already sent "
        f"({format_money(request.amount, order.currency)}): "
        f"{format_money(order.amount_refunded, order.currency)} refunded so far. "
        "Nothing more was refunded; reload the order page to refund again."
    )


def _not_enough_left(order: Order, amount: int) -> RefundRefused:
    left = refundable(order)
    pending = (
        f" ({format_money(order.amount_refund_reserved, order.currency)} is being refunded "
        "from another form)"
        if order.amount_refund_reserved
        else ""
    )
    if left <= 0 or order.payment_intent_id is None:
        return RefundRefused(f"Order #{order.id} has nothing left to refund{pending}.")
    return RefundRefused(
        f"At most {format_money(left, order.currency)} is left to refund on order "
        f"#{order.id}{pending}; {format_money(amount, order.currency)} was not refunded."
    )


def _reserve(order: Order, amount: int | None, token: RefundToken) -> tuple[int, int]:
    """Claim this form's nonce and reserve its amount, in one committed transaction.

    The guarded UPDATE is the check "amount ≤ left" and the record of it at once: two
    forms racing for more than is left cannot both pass it, on SQLite (one writer at a
    time) and PostgreSQL (the UPDATE re-reads a row another transaction changed) alike.
    Returns the request's id and the amount reserved.
    """
    db.session.commit()  # end any read transaction: read what is there now
    fresh = _fresh(order.id)
    request = db.session.execute(
        db.select(RefundRequest).filter_by(order_id=order.id, nonce=token.nonce)
    ).scalar_one_or_none()
    if request is not None:  # the form was sent before: again only if its refund failed
        if request.state != RefundRequestState.FAILED or amount not in (None, request.amount):
            raise _already_sent(fresh, request)
        amount = request.amount
    if amount is None:
        amount = refundable(fresh)
        if amount <= 0:
            raise _not_enough_left(fresh, 0)
    try:
        if request is None:
            request = RefundRequest(order_id=order.id, nonce=token.nonce, amount=amount)
            db.session.add(request)
            db.session.flush()
        else:
            retried = db.session.execute(
                update(RefundRequest)
                .where(
                    RefundRequest.id == request.id,
                    RefundRequest.state == RefundRequestState.FAILED,
                )
                .values(state=RefundRequestState.RESERVED)
                .execution_options(synchronize_session=False)
            )
            if getattr(retried, "rowcount", 0) != 1:
                raise _already_sent(fresh, request)
        reserved = db.session.execute(
            update(Order)
            .where(
                Order.id == order.id,
                Order.status.in_([str(status) for status in REFUNDABLE]),
                Order.payment_intent_id.is_not(None),
                Order.amount_paid - Order.amount_refunded - Order.amount_refund_reserved >= amount,
            )
            .values(amount_refund_reserved=Order.amount_refund_reserved + amount)
            .execution_options(synchronize_session=False)
        )
        if getattr(reserved, "rowcount", 0) != 1:
            db.session.rollback()
            raise _not_enough_left(_fresh(order.id), amount)
        request_id = request.id
        db.session.commit()
    except IntegrityError:  # the same form, sent at the same moment, claimed it first
        db.session.rollback()
        raise RefundRefused(
            f"This refund form for order #{order.id} was already sent. Nothing more was "
            "refunded; reload the order page to see what was refunded."
        ) from None
    except Exception:
        db.session.rollback()
        raise
    return request_id, amount


def _release(
    order_id: int, request_id: int, amount: int, state: str, refund_id: str | None
) -> None:
    """Give back a reservation (in the current transaction) and say how its form ended."""
    db.session.execute(
        update(Order)
        .where(Order.id == order_id)
        .values(amount_refund_reserved=Order.amount_refund_reserved - amount)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(RefundRequest)
        .where(RefundRequest.id == request_id)
        .values(state=state, stripe_refund_id=refund_id)
        .execution_options(synchronize_session=False)
    )


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

    First the form's nonce is claimed and the amount reserved on the order
    (`amount_refund_reserved`) by one guarded UPDATE, committed: two forms (two tabs,
    two admins) that together ask for more than is left cannot both pass it, and the
    same form sent twice claims its nonce once. No lock is held while Stripe is called
    with the form's idempotency key. Then the charge is read back through the mirror
    (`stripe_api.sync_charge`, which records the refund and sends its mail) and the
    reservation released in the same transaction; if Stripe refuses, the reservation is
    released and the form may be sent again for the same amount. With `restock`, a
    refund that leaves the order fully refunded puts its copies of stock-limited books
    back on sale (once; a partial refund keeps them sold).

    :raise RefundRefused: not enough left, the form already used, or Stripe said the
        form's key was used differently. :raise StripeFailure: Stripe refused or could
        not be reached.
    """
    request_id, amount = _reserve(order, amount, token)
    payment_intent_id = _fresh(order.id).payment_intent_id
    db.session.commit()
    assert payment_intent_id is not None  # the reservation checked it
    try:
        refund = stripe_api.refund_payment(client, order.id, payment_intent_id, amount, token.nonce)
    except stripe_api.StripeFailure as failure:
        db.session.rollback()
        _release(order.id, request_id, amount, RefundRequestState.FAILED, None)
        db.session.commit()
        if isinstance(failure, stripe_api.RefundKeyReused):
            log.warning("refund of order #%s: key refused: %s", order.id, failure)
            raise RefundRefused(
                f"Stripe already has a refund from this form for order #{order.id} "
                "(with another amount, or still in progress), so nothing more was "
                "refunded. Reload the order page to see what was refunded."
            ) from failure
        raise
    charge_id = refund.charge if isinstance(refund.charge, str) else None
    try:
        if charge_id:
            try:
                stripe_api.sync_charge(client, charge_id, hint=refund)
            except (stripe_api.StripeFailure, mirror.StaleWrite) as failure:
                # The refund is made: say so. `charge.refunded` will record it; until
                # then Stripe itself refuses refunds beyond what the charge has left.
                db.session.rollback()
                log.warning("refund %s made, charge not read back: %s", refund.id, failure)
        _release(order.id, request_id, amount, RefundRequestState.RECORDED, refund.id)
        recorded = _fresh(order.id)
        if restock and recorded.status == OrderStatus.REFUNDED:
            stock.restock(recorded)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    log.info("refunded %s of order #%s (%s)", amount, order.id, refund.id)
    return amount
