"""Copies of stock-limited printed books: allotted, sold, held by open checkouts.

A book's `stock` in the catalogue is the number of copies allotted to the shop in total
(sold copies count against it; raise it when more arrive). `stock_levels` keeps, per
book, the copies `sold` and the copies `held` by orders whose Checkout Session is open,
so what is left for sale is `stock - sold - held`.

Holding is one guarded atomic UPDATE per book (`… WHERE stock - sold - held >= q`), so
two shoppers racing for the last copy cannot both get it, whatever the database's
isolation level. Every later move (release, consume, restock) first moves the order's
own `stock_state` with a guarded UPDATE, so a replayed or racing event moves the copies
once at most. Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CursorResult, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shop.catalogue import Book, Catalogue
from shop.entitlements import catalogue_or_app
from shop.extensions import db
from shop.models import (
    Order,
    OrderItem,
    OrderStatus,
    StockLevel,
    StockState,
    User,
    utcnow,
)

log = logging.getLogger(__name__)

#: Copies one account may hold at once in open checkouts (config `MAX_HELD_COPIES`).
DEFAULT_MAX_HELD_COPIES = 5


class SoldOut(ValueError):
    """Not enough copies are left (or the shopper holds too many); the message says which."""


@dataclass(frozen=True)
class StockRow:
    """One stock-limited book's copies, for the admin dashboard."""

    book: Book
    allotted: int
    sold: int
    held: int

    @property
    def available(self) -> int:
        return max(self.allotted - self.sold - self.held, 0)


def is_limited(book: Book | None) -> bool:
    return book is not None and book.format == "print" and book.stock is not None


def _level(book_key: str) -> StockLevel | None:
    return db.session.execute(
        db.select(StockLevel).filter_by(book_key=book_key).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def available(book: Book) -> int | None:
    """Copies of `book` still for sale (None: not stock-limited)."""
    if not is_limited(book) or book.stock is None:
        return None
    level = _level(book.key)
    taken = (level.sold + level.held) if level is not None else 0
    return max(book.stock - taken, 0)


def stock_rows(catalogue: Catalogue) -> list[StockRow]:
    """Allotted, sold, held and available copies of every stock-limited book."""
    levels = {
        level.book_key: level for level in db.session.execute(db.select(StockLevel)).scalars()
    }
    rows = []
    for book in catalogue.books:
        if is_limited(book) and book.stock is not None:
            level = levels.get(book.key)
            rows.append(
                StockRow(book, book.stock, level.sold if level else 0, level.held if level else 0)
            )
    return rows


def _quantities(order: Order, keys: Iterable[str] | None = None) -> dict[str, int]:
    """Copies per book key on the order's lines (only `keys`, when given)."""
    wanted = None if keys is None else set(keys)
    totals: dict[str, int] = {}
    for item in order.items:
        if wanted is None or item.item_key in wanted:
            totals[item.item_key] = totals.get(item.item_key, 0) + item.quantity
    return totals


def _ensure_levels(keys: Iterable[str]) -> None:
    """A `stock_levels` row for each key (made on first need, racing inserts tolerated)."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    for key in sorted(set(keys)):
        db.session.execute(
            insert(StockLevel)
            .values(book_key=key, held=0, sold=0)
            .on_conflict_do_nothing(index_elements=["book_key"])
        )


def _move_state(order: Order, from_states: Iterable[StockState], to: StockState) -> bool:
    """Move the order's `stock_state` to `to` if it is in `from_states`; True if it moved.

    A guarded UPDATE: of two transactions trying the same move, one changes the row.
    """
    result = db.session.execute(
        db.update(Order)
        .where(Order.id == order.id, Order.stock_state.in_([s.value for s in from_states]))
        .values(stock_state=to.value)
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(result, "rowcount", 0))


def _adjust(book_key: str, held: int = 0, sold: int = 0) -> None:
    db.session.execute(
        db.update(StockLevel)
        .where(StockLevel.book_key == book_key)
        .values(held=StockLevel.held + held, sold=StockLevel.sold + sold)
    )


def held_by(user_id: int, limited_keys: Iterable[str], exclude_order: int | None) -> int:
    """Copies of stock-limited books the user's open checkouts hold now."""
    query = (
        db.select(db.func.coalesce(db.func.sum(OrderItem.quantity), 0))
        .join(Order)
        .where(Order.user_id == user_id, Order.stock_state == StockState.HELD)
        .where(OrderItem.item_key.in_(list(limited_keys)))
    )
    if exclude_order is not None:
        query = query.where(Order.id != exclude_order)
    return int(db.session.execute(query).scalar_one())


def _lock_holder(user_id: int) -> None:
    """Serialise the user's holds, so two checkouts at once cannot both count the copies
    held before either holds (and pass `MAX_HELD_COPIES` together).

    PostgreSQL: the user's row is locked (`FOR NO KEY UPDATE`, which does not wait for
    the key-share locks new orders take on it) until the transaction ends; the count
    that follows sees every hold committed before. SQLite lets one writer at a time, so
    a no-op write makes this transaction the writer before it counts.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            db.select(User.id).where(User.id == user_id).with_for_update(key_share=True)
        )
    else:
        db.session.execute(text("UPDATE users SET id = id WHERE id = :u"), {"u": user_id})


def hold(catalogue: Catalogue, order: Order, max_held: int) -> None:
    """Hold copies for every stock-limited line of `order`, all or nothing.

    The order must be flushed (it has an id); its holds and its `held` state are written
    in the caller's transaction. On refusal the transaction is rolled back (so the
    copies held for earlier lines, and a new order, go with it) and `SoldOut` raised.
    """
    books = {item.item_key: catalogue.book(item.item_key) for item in order.items}
    limited = {key: book for key, book in books.items() if is_limited(book) and book}
    wanted = _quantities(order, limited)
    if not wanted:
        return
    limited_keys = [b.key for b in catalogue.books if is_limited(b)]
    _lock_holder(order.user_id)
    already = held_by(order.user_id, limited_keys, order.id)
    if already + sum(wanted.values()) > max_held:
        db.session.rollback()
        raise SoldOut(
            f"You can hold at most {max_held} copies of limited-stock books in open "
            f"checkouts at once (you hold {already}): finish or cancel a pending order first."
        )
    _ensure_levels(wanted)
    for key in sorted(wanted):  # one order of locks for every transaction: no deadlock
        book, quantity = limited[key], wanted[key]
        result = db.session.execute(
            text(
                "UPDATE stock_levels SET held = held + :q "
                "WHERE book_key = :k AND :allotted - sold - held >= :q"
            ),
            {"q": quantity, "k": key, "allotted": book.stock},
        )
        if not isinstance(result, CursorResult) or result.rowcount != 1:
            left = available(book) or 0
            db.session.rollback()
            raise SoldOut(
                f"Sorry, {book.title} is sold out."
                if left == 0
                else f"Only {left} copies of {book.title} are left."
            )
    if not _move_state(order, [StockState.NONE, StockState.RELEASED], StockState.HELD):
        db.session.rollback()
        raise SoldOut("This order already holds its copies.")
    order.holds_stock = True


def release(order: Order) -> bool:
    """Give back the copies an ended order held (once: a replay finds nothing to give)."""
    if not _move_state(order, [StockState.HELD], StockState.RELEASED):
        return False
    for key, quantity in _quantities(order).items():
        _adjust(key, held=-quantity)
    return True


def consume(order: Order, catalogue: Catalogue | None = None) -> bool:
    """Count a paid order's copies as sold; once.

    Held copies simply become sold. When the hold had already ended (the order was
    cancelled or expired, and paid on a page that was still open), only the copies
    still for sale are taken, never more than are allotted: a line that could not get
    all its copies records them as `copies_short`, and the order shows the admin it was
    oversold (refund those copies or find them). `catalogue`: the app's by default.
    """
    if _move_state(order, [StockState.HELD], StockState.SOLD):
        for key, quantity in _quantities(order).items():
            _adjust(key, held=-quantity, sold=quantity)
        return True
    if not _move_state(order, [StockState.RELEASED], StockState.SOLD):
        return False
    catalogue = catalogue_or_app(catalogue)
    wanted = _quantities(order)
    _ensure_levels(wanted)
    for key in sorted(wanted):
        book = catalogue.book(key)
        quantity = wanted[key]
        taken = quantity
        if is_limited(book) and book is not None and book.stock is not None:
            level = db.session.execute(
                db.select(StockLevel)
                .filter_by(book_key=key)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).scalar_one()
            taken = max(min(quantity, book.stock - level.sold - level.held), 0)
        _adjust(key, sold=taken)
        if taken < quantity:
            _short(order, key, quantity - taken)
    return True


def _short(order: Order, key: str, copies: int) -> None:
    """Note `copies` of `key` as paid for but not there, on the order's lines for it."""
    for item in order.items:
        if item.item_key == key and copies > 0:
            item.copies_short = min(item.quantity, copies)
            copies -= item.copies_short
    log.error("order %s was paid for copies of %s no longer left", order.reference, key)


def restock(order: Order) -> bool:
    """Put a refunded order's copies back on sale (sold → available); once. Copies it
    was short of were never counted as sold, so they are not given back."""
    if not _move_state(order, [StockState.SOLD], StockState.RESTOCKED):
        return False
    for key, quantity in _quantities(order).items():
        short = sum(item.copies_short for item in order.items if item.item_key == key)
        _adjust(key, sold=-(quantity - short))
    return True


def expire_lapsed(now: datetime | None = None, *, exclude: int | None = None) -> int:
    """Mark pending orders whose Checkout Session has passed its expiry as expired, and
    give back their copies: for the `checkout.session.expired` event that never came.

    Returns how many orders it ended. The caller commits.
    """
    now = now or utcnow()
    query = (
        db.select(Order)
        .where(Order.status == OrderStatus.PENDING, Order.expires_at < now)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if exclude is not None:
        query = query.where(Order.id != exclude)
    ended = 0
    for order in db.session.execute(query).scalars():
        order.advance(OrderStatus.EXPIRED)
        release(order)
        ended += 1
    # A cancelled order still holds its copies while its page is being expired; should
    # that never finish, its copies go back when the page would have lapsed anyway.
    for order in db.session.execute(
        db.select(Order).where(
            Order.status == OrderStatus.CANCELLED,
            Order.stock_state == StockState.HELD,
            Order.expires_at < now,
        )
    ).scalars():
        release(order)
    return ended
