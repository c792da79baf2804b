"""Copies of stock-limited printed books: sold, held by pending orders, or still for sale."""

from __future__ import annotations

from datetime import timedelta

from shop.catalogue import Book, ProductKind
from shop.extensions import db
from shop.models import Order, OrderItem, OrderStatus, utcnow

#: How long a pending order holds copies of a stock-limited book. Its Checkout Session
#: expires by then (Stripe's shortest expiry is 30 minutes), so it cannot be paid later.
STOCK_HOLD = timedelta(minutes=31)

#: Orders that keep their copies: paid (even partly refunded or disputed) and clearing.
KEEPS_COPIES = (
    OrderStatus.PAID,
    OrderStatus.AWAITING_PAYMENT,
    OrderStatus.PARTIALLY_REFUNDED,
    OrderStatus.DISPUTED,
)


def available_stock(book: Book) -> int | None:
    """Copies of a printed book still for sale: stock less copies sold or held (None: no limit).

    A pending order holds its copies for `STOCK_HOLD`, the life of its Checkout Session.
    Fully refunded, expired and failed orders give them back.
    """
    if book.stock is None:
        return None
    holding = db.and_(Order.status == OrderStatus.PENDING, Order.created_at > utcnow() - STOCK_HOLD)
    taken = db.session.execute(
        db.select(db.func.coalesce(db.func.sum(OrderItem.quantity), 0))
        .join(Order)
        .where(OrderItem.item_key == book.key, Order.kind == ProductKind.BOOK)
        .where(db.or_(Order.status.in_(KEEPS_COPIES), holding))
    ).scalar_one()
    return max(book.stock - int(taken), 0)
