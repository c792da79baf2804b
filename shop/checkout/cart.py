"""The shopper's basket: books and quantities, before any order exists.

A signed-in shopper's basket is `cart_lines` (one row per book); a signed-out shopper's
lives in the Flask session (`SessionBasket`, handed the session mapping by the view) and
is merged into theirs when they sign in or sign up. Both are a `Basket`, so adding,
changing and removing are the same rules for everyone:

- printed books: 1 to `MAX_QUANTITY` copies, never more than are left for sale;
- ebooks: one copy, and not when the shopper already owns it.

Checkout from the basket makes one pending book order with a line per book
(`checkout_order`); the basket is kept until payment is confirmed, when only the ordered
quantities are taken out (`remove_ordered`, run by fulfilment).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from shop.catalogue import Book, Catalogue
from shop.checkout import stock
from shop.checkout.orders import MAX_QUANTITY, CheckoutRefused, book_order
from shop.entitlements import owned_book_keys
from shop.extensions import db
from shop.models import CartLine, CartState, Order, OrderItem, OrderStatus, User

#: Where a signed-out shopper's basket is kept in the Flask session: `{book_key: quantity}`.
SESSION_KEY = "basket"
#: Different books in one basket (Stripe prices are looked up ten keys per call).
MAX_LINES = 10

Lines = dict[str, int]


class Basket(Protocol):
    """Books and quantities a shopper means to buy."""

    def lines(self) -> Lines: ...

    def put(self, book_key: str, quantity: int) -> None:
        """Set the book's quantity; 0 takes it out."""


class SessionBasket:
    """A signed-out shopper's basket, kept in their (signed) Flask session."""

    def __init__(self, store: MutableMapping[str, Any]) -> None:
        self.store = store

    def lines(self) -> Lines:
        raw = self.store.get(SESSION_KEY)
        if not isinstance(raw, dict):
            return {}
        return {str(k): int(v) for k, v in raw.items() if isinstance(v, int) and v > 0}

    def put(self, book_key: str, quantity: int) -> None:
        lines = self.lines()
        if quantity > 0:
            lines[book_key] = quantity
        else:
            lines.pop(book_key, None)
        self.store[SESSION_KEY] = lines  # reassigned, so the session knows it changed

    def clear(self) -> None:
        self.store.pop(SESSION_KEY, None)


class UserBasket:
    """A signed-in shopper's basket: their `cart_lines`."""

    def __init__(self, user: User) -> None:
        self.user = user

    def lines(self) -> Lines:
        rows = db.session.execute(
            db.select(CartLine.book_key, CartLine.quantity)
            .filter_by(user_id=self.user.id)
            .order_by(CartLine.id)
        ).all()
        return {key: quantity for key, quantity in rows}

    def put(self, book_key: str, quantity: int) -> None:
        line = db.session.execute(
            db.select(CartLine).filter_by(user_id=self.user.id, book_key=book_key)
        ).scalar_one_or_none()
        if quantity <= 0:
            if line is not None:
                db.session.delete(line)
        elif line is None:
            db.session.add(CartLine(user_id=self.user.id, book_key=book_key, quantity=quantity))
        else:
            line.quantity = quantity
        try:
            db.session.commit()
        except IntegrityError:  # the same book added from two tabs at once: set it
            db.session.rollback()
            db.session.execute(
                db.update(CartLine)
                .filter_by(user_id=self.user.id, book_key=book_key)
                .values(quantity=quantity)
            )
            db.session.commit()


@dataclass(frozen=True)
class BasketLine:
    book: Book
    quantity: int
    available: int | None  # copies left for sale; None when not stock-limited

    @property
    def line_total(self) -> int:
        return self.book.price * self.quantity


@dataclass(frozen=True)
class BasketView:
    """The basket as the cart page shows it."""

    lines: list[BasketLine]

    @property
    def subtotal(self) -> int:
        return sum(line.line_total for line in self.lines)

    @property
    def currency(self) -> str | None:
        return self.lines[0].book.currency if self.lines else None

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def ships(self) -> bool:
        """True when something in it is posted (then the shopper says where to)."""
        return any(line.book.format == "print" for line in self.lines)


def view(catalogue: Catalogue, basket: Basket) -> BasketView:
    """The basket's books (those still in the catalogue), quantities and subtotal."""
    lines = []
    for key, quantity in basket.lines().items():
        book = catalogue.book(key)
        if book is not None:
            lines.append(BasketLine(book, quantity, stock.available(book)))
    return BasketView(lines)


def drop_unsold(catalogue: Catalogue, basket: Basket) -> list[str]:
    """Take books no longer in the catalogue out of the basket; what to tell the shopper
    (once: they are gone from the basket afterwards)."""
    messages = []
    for key in basket.lines():
        if catalogue.book(key) is None:
            basket.put(key, 0)
            messages.append(
                f"{former_title(key)} is no longer sold and was taken out of your basket."
            )
    return messages


def former_title(key: str) -> str:
    """The title a book no longer in the catalogue was sold under (from an order line's
    "Title — Author"), else its key in words."""
    description: str | None = db.session.execute(
        db.select(OrderItem.description)
        .filter_by(item_key=key)
        .order_by(OrderItem.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if description:
        return description.split(" — ")[0]
    return key.replace("-", " ").capitalize()


def refill(catalogue: Catalogue, basket: Basket, order: Order, owned: set[str]) -> list[str]:
    """Put a book order's books back in the basket (at least the quantities ordered), as
    far as the rules allow; what could not go back, to tell the shopper."""
    problems = []
    for item in order.items:
        book = catalogue.book(item.item_key)
        if book is None:
            problems.append(f"{former_title(item.item_key)} is no longer sold.")
            continue
        lines = basket.lines()
        if item.item_key not in lines and len(lines) >= MAX_LINES:
            problems.append(f"A basket holds at most {MAX_LINES} different books.")
            continue
        wanted = 1 if book.format == "ebook" else max(lines.get(book.key, 0), item.quantity)
        try:
            basket.put(book.key, _allowed(book, wanted, owned))
        except CheckoutRefused as refusal:
            problems.append(str(refusal))
    return problems


def _allowed(book: Book, quantity: int, owned: set[str]) -> int:
    """`quantity` if the basket may hold that many of `book`. :raise CheckoutRefused:"""
    if book.format == "ebook":
        if book.key in owned:
            raise CheckoutRefused(f"You already own {book.title}: it is in your library.")
        if quantity != 1:
            raise CheckoutRefused(f"{book.title} is an ebook: one copy is all you need.")
        return 1
    if not 1 <= quantity <= MAX_QUANTITY:
        raise CheckoutRefused(f"Choose between 1 and {MAX_QUANTITY} copies.")
    left = stock.available(book)
    if left is not None and quantity > left:
        raise CheckoutRefused(
            f"Sorry, {book.title} is sold out."
            if left == 0
            else f"Only {left} copies of {book.title} are left."
        )
    return quantity


def _book(catalogue: Catalogue, key: str) -> Book:
    book = catalogue.book(key)
    if book is None:
        raise CheckoutRefused("That book is not in our catalogue.")
    return book


def add(catalogue: Catalogue, basket: Basket, key: str, quantity: int, owned: set[str]) -> str:
    """Add `quantity` copies of a book (an ebook: one); what to tell the shopper.

    `owned` is the shopper's `owned_book_keys` (empty when signed out).
    :raise CheckoutRefused: when the book cannot go in the basket (the message says why).
    """
    book = _book(catalogue, key)
    lines = basket.lines()
    if key not in lines and len(lines) >= MAX_LINES:
        raise CheckoutRefused(f"A basket holds at most {MAX_LINES} different books.")
    if book.format == "ebook" and key in lines:
        _allowed(book, 1, owned)
        return f"{book.title} is already in your basket."
    wanted = lines.get(key, 0) + quantity if book.format == "print" else quantity
    basket.put(key, _allowed(book, wanted, owned))
    return f"Added {book.title} to your basket."


def change(catalogue: Catalogue, basket: Basket, key: str, quantity: int, owned: set[str]) -> None:
    """Set a book's quantity (0 removes it). :raise CheckoutRefused:"""
    if key not in basket.lines():
        raise CheckoutRefused("That book is not in your basket.")
    if quantity == 0:
        basket.put(key, 0)
        return
    basket.put(key, _allowed(_book(catalogue, key), quantity, owned))


def merge(catalogue: Catalogue, user: User, signed_out: Mapping[str, int]) -> None:
    """Add a signed-out basket to the user's own, as far as the rules allow (ebooks they
    own are dropped, quantities capped)."""
    basket = UserBasket(user)
    owned = owned_book_keys(user)
    mine = basket.lines()
    for key, quantity in signed_out.items():
        book = catalogue.book(key)
        if book is None or (book.format == "ebook" and (key in owned or key in mine)):
            continue
        if key not in mine and len(mine) >= MAX_LINES:
            continue
        total = 1 if book.format == "ebook" else min(mine.get(key, 0) + quantity, MAX_QUANTITY)
        basket.put(key, total)
        mine[key] = total


# --- checkout ---------------------------------------------------------------------------


def open_cart_order(user: User) -> Order | None:
    """The user's pending order made from their basket, if there is one."""
    return db.session.execute(
        db.select(Order)
        .filter_by(open_cart_user_id=user.id, status=OrderStatus.PENDING)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def matches(order: Order, lines: Mapping[str, int]) -> bool:
    """True when the order was made from exactly these lines."""
    return {item.item_key: item.quantity for item in order.items} == dict(lines)


def checkout_lines(catalogue: Catalogue, user: User) -> Lines:
    """The user's basket, checked for checkout. :raise CheckoutRefused:"""
    lines = {k: q for k, q in UserBasket(user).lines().items() if catalogue.book(k)}
    if not lines:
        raise CheckoutRefused("Your basket is empty.")
    owned = owned_book_keys(user)
    for key in lines:
        book = _book(catalogue, key)
        if book.format == "ebook" and key in owned:
            raise CheckoutRefused(
                f"You already own {book.title}: take it out of your basket to check out."
            )
    return lines


def checkout_order(
    catalogue: Catalogue, user: User, lines: Lines, *, max_held: int, ship_to: str | None = None
) -> tuple[Order, bool]:
    """The one pending order for these basket lines, and whether this call made it: a
    new one, or — when two Checkout clicks race — the one the other click made (the
    unique `open_cart_user_id` lets only one exist).
    :raise CheckoutRefused: when copies are not left."""
    try:
        order = book_order(
            catalogue, user, lines, max_held=max_held, from_cart=True, ship_to=ship_to
        )
        return order, True
    except IntegrityError:
        db.session.rollback()
        winner = open_cart_order(user)
        if winner is None:
            raise
        return winner, False


def remove_ordered(order: Order) -> bool:
    """Take a paid cart order's quantities out of its shopper's basket, once.

    A guarded UPDATE of the order's `cart_state` makes a replayed event a no-op. Lines
    added or increased since stay (a line drops only to what is left).
    """
    result = db.session.execute(
        db.update(Order)
        .where(
            Order.id == order.id,
            Order.cart_state.in_([CartState.OPEN.value, CartState.CLOSED.value]),
        )
        .values(cart_state=CartState.SETTLED.value, open_cart_user_id=None)
        .execution_options(synchronize_session="fetch")
    )
    if not getattr(result, "rowcount", 0):
        return False
    for item in order.items:
        line = db.session.execute(
            db.select(CartLine).filter_by(user_id=order.user_id, book_key=item.item_key)
        ).scalar_one_or_none()
        if line is None:
            continue
        if line.quantity <= item.quantity:
            db.session.delete(line)
        else:
            line.quantity -= item.quantity
    return True
