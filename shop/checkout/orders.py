"""Pending orders, priced by the catalogue: the shopper sends only a key, a quantity or an
interval, never an amount. Each is committed before Stripe is called.
"""

from __future__ import annotations

from typing import cast

from shop.catalogue import Catalogue, Interval, Plan, ProductKind
from shop.checkout.stock import available_stock
from shop.extensions import db
from shop.models import LIVE_STATUSES, Order, OrderItem, OrderStatus, Subscription, User
from shop.shipping import zone_for

MAX_QUANTITY = 10


class CheckoutRefused(ValueError):
    """The shopper asked for something that cannot be sold (the message says why)."""


def order_book(
    catalogue: Catalogue, user: User, book_key: str, quantity: int, ship_to: str | None = None
) -> Order:
    """A committed pending order for `quantity` copies of a book, priced by the catalogue.

    A printed book needs `ship_to`, the country (ISO code) it is posted to, which sets
    the postage Checkout offers; an ebook ignores it.
    """
    book = catalogue.book(book_key)
    if book is None:
        raise CheckoutRefused("That book is not in our catalogue.")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise CheckoutRefused(f"Choose between 1 and {MAX_QUANTITY} copies.")
    destination = None
    if book.format == "print":
        destination = (ship_to or "").upper()
        if zone_for(catalogue.shipping, destination) is None:
            raise CheckoutRefused("Choose a country we post to.")
    stock = available_stock(book)
    if stock is not None and quantity > stock:
        raise CheckoutRefused(
            "Sorry, that book is sold out." if stock == 0 else f"Only {stock} copies are left."
        )
    order = Order(
        user=user,
        kind=ProductKind.BOOK,
        currency=book.currency,
        amount_total=book.price * quantity,
        ships=book.format == "print",
        ship_to_country=destination,
        holds_stock=book.stock is not None,
    )
    order.items.append(
        OrderItem(
            item_key=book.key,
            lookup_key=book.lookup_key,
            description=f"{book.title} — {book.author}",
            unit_amount=book.price,
            quantity=quantity,
        )
    )
    db.session.add(order)
    db.session.commit()
    return order


def live_membership(user: User, plan: Plan) -> Subscription | None:
    """The user's current membership of `plan`, if they already have one."""
    return db.session.execute(
        db.select(Subscription)
        .filter_by(user_id=user.id, plan_key=plan.key)
        .where(Subscription.status.in_(LIVE_STATUSES))
        .limit(1)
    ).scalar_one_or_none()


def order_membership(catalogue: Catalogue, user: User, plan_key: str, interval: str) -> Order:
    """The pending order for a membership billed every `interval`: the shopper's earlier
    one for this plan when there is one (so a second tab cannot start a second
    subscription), else a new committed one.
    """
    plan = catalogue.plan(plan_key)
    if plan is None:
        raise CheckoutRefused("That membership is not offered.")
    amount = plan.price_for(interval)
    if amount is None:
        raise CheckoutRefused(f"{plan.name} is not sold by the {interval}.")
    if live_membership(user, plan) is not None:
        raise CheckoutRefused(f"You are already a {plan.name} member.")
    lookup_key = plan.lookup_key(cast(Interval, interval))  # price_for knew the interval
    pending: Order | None = db.session.execute(
        db.select(Order)
        .join(OrderItem)
        .where(Order.user_id == user.id, Order.kind == ProductKind.MEMBERSHIP)
        .where(Order.status == OrderStatus.PENDING, OrderItem.item_key == plan.key)
        .order_by(Order.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if pending is not None and pending.items[0].lookup_key == lookup_key:
        return pending
    if pending is not None and pending.checkout_session_id is not None:
        raise CheckoutRefused(
            f"You have a {plan.name} sign-up waiting for payment: finish or cancel it first."
        )
    order = Order(
        user=user,
        kind=ProductKind.MEMBERSHIP,
        currency=plan.currency,
        amount_total=amount,
        trial_days=plan.trial_days,
    )
    order.items.append(
        OrderItem(
            item_key=plan.key,
            lookup_key=lookup_key,
            description=f"{plan.name} membership, billed every {interval}",
            unit_amount=amount,
            quantity=1,
        )
    )
    db.session.add(order)
    db.session.commit()
    return order
