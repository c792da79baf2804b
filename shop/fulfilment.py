"""Bring Quire's records in line with Stripe objects.

Each function takes a Stripe object as Stripe has it *now* (freshly retrieved by
`stripe_api`, which alone calls Stripe) and makes the local rows say the same. They are
idempotent and run without a request, so the webhook, the success page and the
reconcile command share them. They never commit: the caller owns the transaction (one
per webhook event, with its processed-event row).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, TypeVar

import stripe
from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shop import notices
from shop.catalogue import PLAN_METADATA, QUIRE_KEY_METADATA, LookupKey, ProductKind
from shop.checkout import cart, stock
from shop.countries import country_name
from shop.extensions import db
from shop.models import (
    ENDED_UNPAID,
    ORDER_ID_METADATA,
    USER_ID_METADATA,
    WAS_PAID,
    Customer,
    Invoice,
    MoneyMovement,
    MoneyMovementKind,
    Order,
    OrderStatus,
    Subscription,
    User,
    from_timestamp,
    utcnow,
)
from shop.stripe_client import field_of, metadata_of

log = logging.getLogger(__name__)
Row = TypeVar("Row", Subscription, Invoice)


def _id(value: Any) -> str | None:
    """The id of an expandable field, whether Stripe sent the id or the object."""
    if value is None or isinstance(value, str):
        return value
    return str(value["id"])


def _locked_orders() -> Select[Order]:
    """Orders read fresh and locked (`SELECT … FOR UPDATE` where the database has it).

    The webhook and the success page may update one order at once; the lock makes the
    second wait and then see the first one's status, so `Order.advance` never works
    from a stale read and an order cannot slip back down its ladder.
    """
    return select(Order).with_for_update().execution_options(populate_existing=True)


# --- what each Stripe object writes, for `shop.mirror` ------------------------------------
# These read without locking and accept the object as retrieved or as an event carries it.


def _session_order_id(session: Any) -> int | None:
    """The id of the order a session writes, found as `order_for_session` finds it."""
    order_id: int | None = db.session.execute(
        select(Order.id).filter_by(checkout_session_id=field_of(session, "id"))
    ).scalar_one_or_none()
    if order_id is not None:
        return order_id
    by_reference = Order.id_from_reference(field_of(session, "client_reference_id"))
    if by_reference is None:
        return None
    current = db.session.execute(
        select(Order.checkout_session_id).filter_by(id=by_reference)
    ).one_or_none()
    if current is None or current[0] not in (None, field_of(session, "id")):
        return None
    return by_reference


def session_keys(session: Any) -> set[str]:
    """What recording a Checkout Session writes: its order and its subscription."""
    keys = set()
    order_id = _session_order_id(session)
    if order_id is not None:
        keys.add(Order.reference_for(order_id))
    subscription_id = _id(field_of(session, "subscription"))
    if subscription_id:
        keys.add(subscription_id)
    return keys


def payment_keys(intent: Any) -> set[str]:
    """What recording a charge or dispute of this PaymentIntent writes: its order."""
    intent_id = _id(intent)
    if intent_id is None:
        return set()
    order_id: int | None = db.session.execute(
        select(Order.id).filter_by(payment_intent_id=intent_id)
    ).scalar_one_or_none()
    if order_id is None and not isinstance(intent, str):
        named = str(field_of(field_of(intent, "metadata"), ORDER_ID_METADATA) or "")
        if named.isdigit():
            order_id = db.session.execute(
                select(Order.id).filter_by(id=int(named), payment_intent_id=None)
            ).scalar_one_or_none()
    return set() if order_id is None else {Order.reference_for(order_id)}


def invoice_keys(invoice: Any, *, with_subscription: bool = True) -> set[str]:
    """What recording an invoice writes: the invoice, and its subscription if recorded."""
    keys = {str(field_of(invoice, "id"))}
    subscription_id = invoice_subscription_id(invoice) if with_subscription else None
    if subscription_id:
        keys.add(subscription_id)
    return keys


def order_for_session(session: stripe.checkout.Session) -> Order | None:
    """The order a session was made for, or None when it is not one of Quire's."""
    order: Order | None = db.session.execute(
        _locked_orders().filter_by(checkout_session_id=session.id)
    ).scalar_one_or_none()
    if order is not None:
        return order
    # The session id may not be stored yet if the redirect beat our own commit.
    order_id = Order.id_from_reference(session.client_reference_id)
    if order_id is not None:
        order = db.session.execute(_locked_orders().filter_by(id=order_id)).scalar_one_or_none()
        if order is not None and order.checkout_session_id in (None, session.id):
            order.checkout_session_id = session.id
            return order
    return None


def session_status(session: stripe.checkout.Session) -> OrderStatus | None:
    """The order status a Checkout Session implies, from its current state alone."""
    if session.status == "expired":
        return OrderStatus.EXPIRED
    if session.status != "complete":
        return None
    if session.payment_status in ("paid", "no_payment_required"):
        return OrderStatus.PAID
    intent = session.payment_intent
    failed = ("requires_payment_method", "canceled")
    if intent is not None and not isinstance(intent, str) and intent.status in failed:
        return OrderStatus.PAYMENT_FAILED
    return OrderStatus.AWAITING_PAYMENT


def payment_failure(session: stripe.checkout.Session) -> str | None:
    """Stripe's codes for why the session's payment failed (`payment_failed code=…
    decline_code=…`), kept so the shopper can be told why in plain words; None if unknown.
    """
    intent = session.payment_intent
    if intent is None or isinstance(intent, str):
        return None
    error = field_of(intent, "last_payment_error")
    if error is None:
        return None
    code, decline_code = field_of(error, "code"), field_of(error, "decline_code")
    return f"payment_failed code={code} decline_code={decline_code}"


def fulfil_checkout_session(session: stripe.checkout.Session) -> Order | None:
    """Record what a Checkout Session says about its order (and subscription)."""
    order = order_for_session(session)
    if order is None:
        log.warning("checkout session %s matches no Quire order; ignored", session.id)
        return None
    status = session_status(session)
    if status is None:
        return order
    order.payment_status = session.payment_status
    order.stripe_customer_id = _id(session.customer) or order.stripe_customer_id
    order.payment_intent_id = _id(session.payment_intent) or order.payment_intent_id
    order.stripe_subscription_id = _id(session.subscription) or order.stripe_subscription_id
    # The receipt goes when Quire first records the payment, not on each later sight of
    # the session (a reopened confirmation page, `orders reconcile` of old orders).
    first_paid = status == OrderStatus.PAID and order.paid_at is None
    if status == OrderStatus.PAID:
        # Whatever the order's status: a refund recorded before this completion has
        # moved it past Paid already, and it was still paid, then.
        order.amount_paid = session.amount_total
        order.paid_at = order.paid_at or utcnow()
    if status == OrderStatus.PAID and (session.amount_total or 0) > 0:
        record_money(
            MoneyMovementKind.PAYMENT,
            session.id,
            session.amount_total or 0,
            session.currency or order.currency,
            payment_time(session),
            order_id=order.id,
        )
    if order.ships:
        record_shipping(order, session)
    if order.advance(status) and status == OrderStatus.PAYMENT_FAILED:
        order.last_error = payment_failure(session) or order.last_error
    settle_order(order)
    subscription = session.subscription
    if subscription is not None and not isinstance(subscription, str):
        record_subscription(subscription, user_id=order.user_id)
    if first_paid:
        notices.order_paid(order)
    return order


#: The money movement that stands for an order's refunds recorded before the ledger
#: existed (written by the migration), replaced by one row per refund once the charge
#: is next read.
BACKFILLED_REFUNDS = "backfill-refunds-"


def payment_time(session: stripe.checkout.Session) -> datetime:
    """When a session's payment happened, by Stripe's clock: its PaymentIntent's `created`
    when expanded (payment mode), else the session's own `created`."""
    intent = session.payment_intent
    created = (
        field_of(intent, "created") if intent is not None and not isinstance(intent, str) else None
    )
    return from_timestamp(created or session.created) or utcnow()


def record_money(
    kind: MoneyMovementKind,
    stripe_id: str,
    amount: int,
    currency: str,
    occurred_at: datetime,
    *,
    order_id: int | None = None,
    invoice_id: str | None = None,
) -> None:
    """Add a payment or refund to the ledger once: a second record of the same Stripe
    object is `INSERT … ON CONFLICT DO NOTHING` (amounts and times never change)."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(
        insert(MoneyMovement)
        .values(
            kind=kind,
            stripe_id=stripe_id,
            order_id=order_id,
            stripe_invoice_id=invoice_id,
            amount=amount,
            currency=currency.lower(),
            occurred_at=occurred_at,
        )
        .on_conflict_do_nothing(index_elements=["stripe_id"])
    )


def record_refunds(order: Order | None, charge: stripe.Charge) -> None:
    """One ledger row per refund of the charge (`charge.refunds`, expanded by
    `stripe_api`), dated by the refund's `created`; a failed or cancelled refund gave no
    money back and has none. Once the refunds are known one by one, the order's
    backfilled total is dropped in their favour.

    A charge that paid for no order (a membership's renewal) still has its refunds in
    the ledger, with the invoice it paid when the charge names it, so revenue net of
    refunds counts them too.
    """
    refunds = field_of(field_of(charge, "refunds"), "data")
    if refunds is None:
        return
    invoice_id = None if order is not None else charge_invoice_id(charge)
    for refund in refunds:
        if field_of(refund, "status") in ("failed", "canceled"):
            db.session.execute(db.delete(MoneyMovement).filter_by(stripe_id=refund.id))
            continue
        currency = refund.currency or (order.currency if order else charge.currency)
        record_money(
            MoneyMovementKind.REFUND,
            refund.id,
            refund.amount,
            currency,
            from_timestamp(refund.created) or utcnow(),
            order_id=order.id if order is not None else None,
            invoice_id=invoice_id,
        )
    if order is not None:
        backfilled = f"{BACKFILLED_REFUNDS}{order.reference}"
        db.session.execute(db.delete(MoneyMovement).filter_by(stripe_id=backfilled))


def charge_invoice_id(charge: stripe.Charge) -> str | None:
    """The invoice a charge paid, when the charge says so without another Stripe call:
    its `invoice` (API versions before 2025-03-31), or its PaymentIntent's when that
    came expanded; else None."""
    invoice = field_of(charge, "invoice")
    if invoice is None:
        intent = field_of(charge, "payment_intent")
        if intent is not None and not isinstance(intent, str):
            invoice = field_of(intent, "invoice")
    return _id(invoice)


def _address_lines(address: Any) -> list[str]:
    """A Stripe address as the lines of a parcel label, blanks left out."""
    if not address:
        return []
    parts = [field_of(address, name) for name in ("line1", "line2", "city", "state")]
    parts.append(field_of(address, "postal_code"))
    country = field_of(address, "country")
    parts.append(country_name(country) if country else None)
    return [str(part).strip() for part in parts if part and str(part).strip()]


def record_shipping(order: Order, session: stripe.checkout.Session) -> None:
    """Note where a printed book goes and what its postage was, as the session says.

    At the pinned API version the address is `collected_information.shipping_details`
    (before 2025-03-31 it was the session's `shipping_details`); the postage is
    `shipping_cost` (with its `shipping_rate` expanded by `stripe_api` for the name),
    else `total_details.amount_shipping`. Only what the session carries is written, so a
    replayed or partial session never blanks what an earlier one recorded.
    """
    details = field_of(field_of(session, "collected_information"), "shipping_details")
    details = details or field_of(session, "shipping_details")
    if details:
        order.shipping_name = field_of(details, "name") or order.shipping_name
        lines = _address_lines(field_of(details, "address"))
        order.shipping_address = "\n".join(lines) if lines else order.shipping_address
    cost = field_of(session, "shipping_cost")
    amount = field_of(cost, "amount_total")
    if amount is None:
        amount = field_of(field_of(session, "total_details"), "amount_shipping") if cost else None
    if amount is not None:
        order.shipping_amount = amount
    rate = field_of(cost, "shipping_rate")
    if rate is not None and not isinstance(rate, str):
        order.shipping_method = field_of(rate, "display_name") or order.shipping_method


def settle_order(order: Order) -> None:
    """What an order's new status means for its copies and its shopper's basket.

    Paid: held copies become sold and the ordered quantities leave the basket. Ended
    unpaid (expired, payment failed, cancelled): held copies go back, the basket stays.
    Each move happens once, however often the event is replayed (see `stock`, `cart`).
    """
    status = OrderStatus(order.status)
    if status in WAS_PAID:
        stock.consume(order)
        cart.remove_ordered(order)
    elif status in ENDED_UNPAID:
        stock.release(order)


def _user_for_customer(customer_id: str, metadata: dict[str, str]) -> int | None:
    """Which user a Stripe customer belongs to: our customer row, else our own metadata."""
    user_id = db.session.execute(
        db.select(Customer.user_id).filter_by(stripe_customer_id=customer_id)
    ).scalar_one_or_none()
    if user_id is None and metadata.get(USER_ID_METADATA, "").isdigit():
        user = db.session.get(User, int(metadata[USER_ID_METADATA]))
        user_id = user.id if user is not None else None
    return user_id


def _upsert(model: type[Row], key: dict[str, str], values: dict[str, Any]) -> Row:
    """The row with this Stripe id, inserted or updated to `values`.

    The insert is `INSERT … ON CONFLICT DO NOTHING`, so when a webhook and the success
    page record the same object at the same moment, the loser simply finds the winner's
    row instead of failing on the unique constraint (a prior SELECT could not prevent
    that race).
    """
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(model).values(**key, **values).on_conflict_do_nothing(index_elements=list(key))
    )
    db.session.execute(statement)
    row: Row = db.session.execute(
        db.select(model).filter_by(**key).execution_options(populate_existing=True)
    ).scalar_one()
    for name, value in values.items():
        setattr(row, name, value)
    return row


def record_subscription(sub: stripe.Subscription, user_id: int | None = None) -> Subscription:
    """Make the local membership say what the Stripe subscription says now."""
    customer_id = _id(sub.customer) or ""
    metadata = metadata_of(sub)
    owner = user_id or _user_for_customer(customer_id, metadata)
    values: dict[str, Any] = {
        "stripe_customer_id": customer_id,
        "status": sub.status,
        "cancel_at_period_end": bool(sub.cancel_at_period_end),
        "trial_end": from_timestamp(sub.trial_end),
        "canceled_at": from_timestamp(sub.canceled_at),
        "plan_key": metadata.get(PLAN_METADATA),
        "interval": None,
    }
    items = sub.items.data if field_of(sub, "items") else []
    # Since API 2025-03-31 periods live on items; older versions had them on the subscription.
    period_end = field_of(sub, "current_period_end")
    if items:
        item = items[0]
        price = item.price
        values["interval"] = price.recurring.interval if price.recurring else None
        quire_key = metadata_of(price).get(QUIRE_KEY_METADATA)
        lookup_key = LookupKey.parse(price.lookup_key or quire_key)
        if lookup_key is not None and lookup_key.kind is ProductKind.MEMBERSHIP:
            values["plan_key"] = lookup_key.item_key
        period_end = field_of(item, "current_period_end") or period_end
    values["current_period_end"] = from_timestamp(period_end)
    values["started_at"] = from_timestamp(field_of(sub, "start_date"))
    values["ended_at"] = from_timestamp(field_of(sub, "ended_at"))
    amount = subscription_amount(sub)
    if amount is not None:
        values["amount"], values["currency"] = amount
    row = _upsert(Subscription, {"stripe_subscription_id": sub.id}, values)
    row.user_id = row.user_id or owner
    # Stripe says past_due but not since when: the grace period counts from when Quire
    # first saw it so, and starts again only after the membership has left past_due.
    if row.status == "past_due":
        row.past_due_since = row.past_due_since or utcnow()
    else:
        row.past_due_since = None
    notices.membership_recorded(row)
    return row


def subscription_amount(sub: stripe.Subscription) -> tuple[int, str] | None:
    """What a subscription charges per interval now, and in which currency: each item's
    price × quantity, less its discounts that have not ended (a coupon's `percent_off`
    or `amount_off`; at this API version a discount's coupon is `source.coupon`, before
    it was `coupon`). None without items, or when a discount's coupon is known only by
    its id (not expanded): the amount recorded before then stands.
    """
    items = field_of(field_of(sub, "items"), "data") or []
    if not items:
        return None
    amount, currency = 0, ""
    for item in items:
        price = field_of(item, "price")
        amount += int(field_of(price, "unit_amount") or 0) * int(field_of(item, "quantity") or 1)
        currency = currency or str(field_of(price, "currency") or "")
    now = utcnow().timestamp()
    for discount in field_of(sub, "discounts") or []:
        coupon = None
        if not isinstance(discount, str):
            source = field_of(discount, "source")
            coupon = field_of(source, "coupon") or field_of(discount, "coupon")
        if coupon is None or isinstance(coupon, str):
            return None
        end = field_of(discount, "end")
        if end is not None and end <= now:
            continue
        percent_off = field_of(coupon, "percent_off")
        amount_off = field_of(coupon, "amount_off")
        if percent_off:
            amount -= round(amount * float(percent_off) / 100)
        elif amount_off and str(field_of(coupon, "currency") or currency) == currency:
            amount -= int(amount_off)
    return max(amount, 0), currency.lower()


def invoice_subscription_id(invoice: stripe.Invoice) -> str | None:
    """The invoice's subscription: `parent.subscription_details` now, top level before."""
    details = field_of(field_of(invoice, "parent"), "subscription_details")
    subscription = field_of(details, "subscription")
    return _id(subscription or field_of(invoice, "subscription"))


def record_invoice(invoice: stripe.Invoice) -> Invoice:
    """Make the local invoice say what the Stripe invoice says now."""
    values: dict[str, Any] = {
        "stripe_subscription_id": invoice_subscription_id(invoice),
        "stripe_customer_id": _id(invoice.customer),
        "status": invoice.status,
        "billing_reason": invoice.billing_reason,
        "currency": invoice.currency,
        "amount_due": invoice.amount_due,
        "amount_paid": invoice.amount_paid,
        "attempt_count": invoice.attempt_count or 0,
        "hosted_invoice_url": invoice.hosted_invoice_url,
        "created_at": from_timestamp(invoice.created),
    }
    row = _upsert(Invoice, {"stripe_invoice_id": invoice.id or ""}, values)
    # A membership's first invoice is its order's payment, recorded with the order.
    if (
        invoice.status == "paid"
        and (invoice.amount_paid or 0) > 0
        and invoice.billing_reason != "subscription_create"
    ):
        paid_at = field_of(field_of(invoice, "status_transitions"), "paid_at")
        record_money(
            MoneyMovementKind.PAYMENT,
            row.stripe_invoice_id,
            invoice.amount_paid,
            invoice.currency,
            from_timestamp(paid_at or invoice.created) or utcnow(),
            invoice_id=row.stripe_invoice_id,
        )
    notices.invoice_recorded(row)
    return row


def order_for_payment(intent: Any) -> Order | None:
    """The order a PaymentIntent paid for: by its id, or by the `order_id` Quire put in
    its metadata at checkout — so a refund or dispute that arrives before
    `checkout.session.completed` still finds its order.
    """
    intent_id = _id(intent)
    if intent_id is None:
        return None
    order = db.session.execute(
        _locked_orders().filter_by(payment_intent_id=intent_id)
    ).scalar_one_or_none()
    if order is None and not isinstance(intent, str):
        order_id = metadata_of(intent).get(ORDER_ID_METADATA, "")
        if order_id.isdigit():
            order = db.session.execute(
                _locked_orders().filter_by(id=int(order_id), payment_intent_id=None)
            ).scalar_one_or_none()
            if order is not None:
                order.payment_intent_id = intent_id
    return order


def record_charge(charge: stripe.Charge) -> Order | None:
    """Record refunds of a charge on the order it paid for."""
    order = order_for_payment(charge.payment_intent)
    if order is None:
        # A membership's renewal: no order to mark, but its refunds are money given back.
        log.info("charge %s matches no Quire order; only its refunds are recorded", charge.id)
        record_refunds(None, charge)
        return None
    refunded_before = order.amount_refunded
    order.amount_refunded = max(order.amount_refunded, charge.amount_refunded)
    record_refunds(order, charge)
    notices.refund_recorded(order, charge.id, refunded_before)
    if charge.refunded or charge.amount_refunded >= charge.amount:
        order.advance(OrderStatus.REFUNDED)
    elif charge.amount_refunded > 0:
        order.advance(OrderStatus.PARTIALLY_REFUNDED)
    return order


def record_dispute(dispute: stripe.Dispute) -> Order | None:
    """Mark the order whose payment is disputed; a dispute is a fact that never reverts."""
    order = order_for_payment(dispute.payment_intent)
    if order is None:
        log.warning("dispute %s matches no Quire order; ignored", dispute.id)
        return None
    order.advance(OrderStatus.DISPUTED)
    return order
