"""Pending orders, priced by the catalogue: the shopper sends only keys, quantities or an
interval, never an amount. Each is committed before Stripe is called; a book order
holds its copies of stock-limited books in the same transaction (`stock.hold`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from shop.catalogue import Book, Catalogue, Interval, Plan, ProductKind
from shop.checkout import stock
from shop.extensions import db
from shop.models import (
    LIVE_STATUSES,
    CartState,
    Order,
    OrderItem,
    OrderStatus,
    Subscription,
    User,
)

MAX_QUANTITY = 10
#: Statuses in which a paid ebook stays the shopper's (not fully refunded, not disputed).
OWNS = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


class CheckoutRefused(ValueError):
    """The shopper asked for something that cannot be sold (the message says why)."""


def owned_book_keys(user: User) -> set[str]:
    """Keys of the books on the user's paid, not fully refunded, not disputed orders."""
    return set(
        db.session.execute(
            db.select(OrderItem.item_key)
            .join(Order)
            .where(Order.user_id == user.id, Order.kind == ProductKind.BOOK)
            .where(Order.status.in_(OWNS))
        ).scalars()
    )


def book_order(
    catalogue: Catalogue,
    user: User,
    lines: Mapping[str, int],
    *,
    max_held: int,
    from_cart: bool = False,
) -> Order:
    """A committed pending order with one line per book (`{key: quantity}`), priced by
    the catalogue, holding its copies of stock-limited books — all or nothing.

    From the cart, it is the user's one open cart order (`open_cart_user_id` is unique,
    so a racing second one fails with `IntegrityError` and the caller takes the first).
    :raise CheckoutRefused: for an unknown book, a bad quantity, or copies not left.
    """
    if not lines:
        raise CheckoutRefused("Your basket is empty.")
    books: list[tuple[Book, int]] = []
    for key, quantity in lines.items():
        book = catalogue.book(key)
        if book is None:
            raise CheckoutRefused("That book is not in our catalogue.")
        if not 1 <= quantity <= MAX_QUANTITY:
            raise CheckoutRefused(f"Choose between 1 and {MAX_QUANTITY} copies.")
        books.append((book, quantity))
    if stock.expire_lapsed():  # give back copies of checkouts that ended unannounced
        db.session.commit()
    currencies = {book.currency for book, _ in books}
    if len(currencies) != 1:
        raise CheckoutRefused("Books priced in different currencies cannot be bought together.")
    order = Order(
        user=user,
        kind=ProductKind.BOOK,
        currency=currencies.pop(),
        amount_total=sum(book.price * quantity for book, quantity in books),
        ships=any(book.format == "print" for book, _ in books),
        holds_stock=any(stock.is_limited(book) for book, _ in books),
    )
    if from_cart:
        order.cart_state = CartState.OPEN
        order.open_cart_user_id = user.id
    for book, quantity in books:
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
    db.session.flush()
    try:
        stock.hold(catalogue, order, max_held)
    except stock.SoldOut as sold_out:
        raise CheckoutRefused(str(sold_out)) from sold_out
    db.session.commit()
    return order


def order_book(
    catalogue: Catalogue,
    user: User,
    book_key: str,
    quantity: int,
    *,
    max_held: int = stock.DEFAULT_MAX_HELD_COPIES,
) -> Order:
    """A committed pending order for `quantity` copies of one book (Buy on its own)."""
    return book_order(catalogue, user, {book_key: quantity}, max_held=max_held)


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
