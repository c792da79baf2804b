"""Dispatch: the paid printed-book orders waiting to be posted, and marking them shipped.

Domain functions: they run without a request and never commit (the caller owns the
transaction), so the admin pages and any future command share them.
"""

from __future__ import annotations

from sqlalchemy import update

from shop import notices
from shop.extensions import db
from shop.models import Order, OrderStatus, utcnow

#: Orders whose books should be posted: paid, or paid and partly refunded (flagged on
#: the queue). Fully refunded and disputed orders are not posted.
TO_POST = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)
#: A tracking reference longer than this is surely a paste gone wrong.
MAX_TRACKING = 255


class DispatchRefused(ValueError):
    """The order cannot be marked shipped (the message says why)."""


def to_ship() -> list[Order]:
    """Paid orders with printed books not yet shipped, the longest waiting first."""
    return list(
        db.session.execute(
            db.select(Order)
            .where(Order.ships.is_(True), Order.shipped_at.is_(None))
            .where(Order.status.in_(TO_POST))
            .order_by(Order.paid_at.asc(), Order.id.asc())
        ).scalars()
    )


def mark_shipped(order: Order, tracking_reference: str | None = None) -> bool:
    """Record that the order's parcel has gone; True if this call recorded it.

    Idempotent and safe against a double click or two admins at once: the update only
    applies while `shipped_at` is empty, so the first one wins and a later one changes
    neither the time nor the tracking reference.
    """
    if not order.ships:
        raise DispatchRefused("This order has nothing to post.")
    if order.shipped_at is None and order.status not in TO_POST:
        raise DispatchRefused(f"A {order.status.replace('_', ' ')} order is not posted.")
    tracking = (tracking_reference or "").strip() or None
    if tracking is not None and len(tracking) > MAX_TRACKING:
        raise DispatchRefused(f"A tracking reference has at most {MAX_TRACKING} characters.")
    result = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.shipped_at.is_(None))
        .values(shipped_at=utcnow(), tracking_reference=tracking)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(order)
    recorded = bool(getattr(result, "rowcount", 0))
    if recorded:
        notices.order_shipped(order)
    return recorded
