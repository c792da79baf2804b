"""Pending orders, priced by the catalogue: the shopper sends only a key, a quantity or an
interval, never an amount. Each is committed before Stripe is called.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy.exc import IntegrityError

from shop.catalogue import Catalogue, Interval, ProductKind
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


def current_membership(user: User) -> Subscription | None:
    """The user's live membership of any plan (the newest, should there be several)."""
    return db.session.execute(
        db.select(Subscription)
        .filter_by(user_id=user.id)
        .where(Subscription.status.in_(LIVE_STATUSES))
        .order_by(Subscription.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def open_signup(user: User) -> Order | None:
    """The user's membership sign-up waiting for payment (the database allows one)."""
    return db.session.execute(
        db.select(Order)
        .filter_by(user_id=user.id, kind=ProductKind.MEMBERSHIP, status=OrderStatus.PENDING)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


class SignupWaiting(CheckoutRefused):
    """The user has an open sign-up for another plan or interval; it must give way first."""

    def __init__(self, order: Order) -> None:
        super().__init__("You have another membership sign-up waiting for payment.")
        self.order = order


def order_membership(catalogue: Catalogue, user: User, plan_key: str, interval: str) -> Order:
    """The pending order for a membership billed every `interval`: the shopper's open
    sign-up when it is for the same plan and interval, else a new committed one.

    The database holds one open sign-up per user (`OPEN_SIGNUP`): when several presses
    race, one insert wins and the others return the winner's order, so every press ends
    on the same Checkout Session. :raise SignupWaiting: the user's open sign-up is for
    another plan or interval (see `memberships.start_signup`, which replaces it).
    """
    plan = catalogue.plan(plan_key)
    if plan is None:
        raise CheckoutRefused("That membership is not offered.")
    amount = plan.price_for(interval)
    if amount is None:
        raise CheckoutRefused(f"{plan.name} is not sold by the {interval}.")
    if current_membership(user) is not None:
        raise CheckoutRefused("You are a member already: choose a plan to switch to it.")
    lookup_key = plan.lookup_key(cast(Interval, interval))  # price_for knew the interval
    pending = open_signup(user)
    if pending is not None and pending.items[0].lookup_key == lookup_key:
        return pending
    if pending is not None:
        raise SignupWaiting(pending)
    order = Order(
        user=user,
        kind=ProductKind.MEMBERSHIP,
        plan_key=plan.key,
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
    try:
        db.session.commit()
    except IntegrityError:
        # Another press committed the user's open sign-up first: carry on with theirs.
        db.session.rollback()
        winner = open_signup(user)
        if winner is None:
            raise
        return winner
    return order
