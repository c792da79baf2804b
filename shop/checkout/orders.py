"""Pending orders, priced by the catalogue: the shopper sends only keys, quantities or an
interval, never an amount. Each is committed before Stripe is called; a book order
holds its copies of stock-limited books in the same transaction (`stock.hold`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from sqlalchemy.exc import IntegrityError

from shop.catalogue import Book, Catalogue, Interval, ProductKind, SellingPrice
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
from shop.shipping import zone_for

if TYPE_CHECKING:  # prices imports stripe_api, which imports this module's users
    from shop.checkout.prices import PriceCheck

MAX_QUANTITY = 10


class CheckoutRefused(ValueError):
    """The shopper asked for something that cannot be sold (the message says why)."""


def book_order(
    catalogue: Catalogue,
    user: User,
    lines: Mapping[str, int],
    *,
    max_held: int,
    from_cart: bool = False,
    ship_to: str | None = None,
    prices: PriceCheck | None = None,
) -> Order:
    """A committed pending order with one line per book (`{key: quantity}`), priced by
    the catalogue, holding its copies of stock-limited books — all or nothing.

    From the cart, it is the user's one open cart order (`open_cart_user_id` is unique,
    so a racing second one fails with `IntegrityError` and the caller takes the first).
    Printed books need `ship_to`, the country (ISO code) they are posted to, which sets
    the postage Checkout offers. `prices` checks the books' Stripe prices first, so a
    price being updated makes no order and holds no copy.
    :raise CheckoutRefused: for an unknown book, a bad quantity, a country we do not
    post to, or copies not left. :raise CatalogueNotSynced: from `prices`.
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
    ships = any(book.format == "print" for book, _ in books)
    destination = (ship_to or "").upper() if ships else None
    if ships and zone_for(catalogue.shipping, destination or "") is None:
        raise CheckoutRefused("Choose a country we post to.")
    if prices is not None:
        prices([price for book, _ in books for price in book.selling_prices])
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
        ships=ships,
        ship_to_country=destination,
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
    ship_to: str | None = None,
    prices: PriceCheck | None = None,
) -> Order:
    """A committed pending order for `quantity` copies of one book (Buy on its own)."""
    return book_order(
        catalogue, user, {book_key: quantity}, max_held=max_held, ship_to=ship_to, prices=prices
    )


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


def order_membership(
    catalogue: Catalogue,
    user: User,
    plan_key: str,
    interval: str,
    prices: PriceCheck | None = None,
) -> Order:
    """The pending order for a membership billed every `interval`: the shopper's open
    sign-up when it is for the same plan and interval, else a new committed one.

    The database holds one open sign-up per user (`OPEN_SIGNUP`): when several presses
    race, one insert wins and the others return the winner's order, so every press ends
    on the same Checkout Session. :raise SignupWaiting: the user's open sign-up is for
    another plan or interval, or at another price (see `memberships.start_signup`,
    which replaces it). `prices` checks the plan's Stripe price before anything is made.
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
    if prices is not None:
        prices([SellingPrice(lookup_key, amount, plan.currency, cast(Interval, interval))])
    pending = open_signup(user)
    if (
        pending is not None
        and pending.items[0].lookup_key == lookup_key
        and pending.items[0].unit_amount == amount
    ):
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
