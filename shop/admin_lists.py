"""The admin's lists of orders, members and customers: search, filters, pages and CSV.

Request-free, so the admin pages and `flask --app wsgi orders export` share them. Each
list page is a fixed number of indexed queries, whatever the number of orders: the
page's rows (newest first, `PAGE_SIZE` a page, one more fetched to know whether a next
page exists, never counted), then one query per kind of detail the rows show. Pages
stop at `MAX_PAGE`: past that, narrow the search. Exports walk the whole filtered list
in batches by key (no OFFSET), so a CSV of 100,000 orders costs the same per row as
the first page.

**Abandoned orders** (`abandoned`): never paid and given up — expired, cancelled, or
still pending `ABANDONED_AFTER` after they were placed. The orders list hides them unless
asked (`show_abandoned`) or unless a status is chosen, which is always shown.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, func, literal, not_, or_, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, selectinload
from sqlalchemy.sql.selectable import ScalarSelect

from shop.extensions import db
from shop.models import (
    LIVE_STATUSES,
    WAS_PAID,
    Customer,
    Invoice,
    Order,
    OrderItem,
    OrderStatus,
    Subscription,
    User,
    utcnow,
)
from shop.money import exponent

Row = TypeVar("Row")
#: A query of any columns.
AnySelect = Select[*tuple[Any, ...]]

#: Rows on one page of a list.
PAGE_SIZE = 50
#: The deepest page a list shows (PAGE_SIZE × MAX_PAGE rows): past it, search or filter.
MAX_PAGE = 200
#: A pending order this old is abandoned (its Checkout page lasts 31 minutes).
ABANDONED_AFTER = timedelta(days=1)
#: Rows read per query while exporting.
EXPORT_BATCH = 500
#: Statuses never paid and given up (pending ones only once ABANDONED_AFTER has passed).
ABANDONED_STATUSES = (OrderStatus.EXPIRED, OrderStatus.CANCELLED)
#: The membership filter's extra status: live, but set to end at the period's end.
CANCELLING = "cancelling"
MEMBER_STATUSES = (
    "trialing",
    "active",
    CANCELLING,
    "past_due",
    "unpaid",
    "incomplete",
    "incomplete_expired",
    "paused",
    "canceled",
)
#: Where a search finds its rows, by what the text looks like.
STRIPE_PREFIXES = {
    "cs_": "session",
    "pi_": "payment",
    "cus_": "customer",
    "sub_": "subscription",
    "in_": "invoice",
}
#: `order-12`, `#12` or `12`; at most 9 digits (an integer column's range).
ORDER_NUMBER = re.compile(r"(?:order-|#)?\s*(\d{1,9})")
#: Characters a spreadsheet reads as the start of a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# --- Search -------------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    """What a search box's text names: an email, an order, or a Stripe object by id."""

    kind: str  # "email", "order", "session", "payment", "customer", "subscription", "invoice"
    value: str

    @classmethod
    def read(cls, text: str) -> Search | None:
        """The search `text` means (None when blank). An order number is `order-12`,
        `#12` or `12`; a Stripe id is known by its prefix; anything else is an email."""
        text = text.strip()
        if not text:
            return None
        number = ORDER_NUMBER.fullmatch(text.lower())
        if number:
            return cls("order", str(int(number.group(1))))
        for prefix, kind in STRIPE_PREFIXES.items():
            if text.startswith(prefix):
                return cls(kind, text)
        return cls("email", text.lower())

    def order_condition(self) -> ColumnElement[bool]:
        """Orders this search finds."""
        if self.kind == "order":
            return Order.id == int(self.value)
        if self.kind == "session":
            return Order.checkout_session_id == self.value
        if self.kind == "payment":
            return Order.payment_intent_id == self.value
        if self.kind == "subscription":
            return Order.stripe_subscription_id == self.value
        if self.kind == "invoice":
            return Order.stripe_subscription_id == _invoice_subscription(self.value)
        return Order.user_id == self._user_id()

    def member_condition(self) -> ColumnElement[bool]:
        """Memberships this search finds."""
        if self.kind == "subscription":
            return Subscription.stripe_subscription_id == self.value
        if self.kind == "customer":
            return Subscription.stripe_customer_id == self.value
        if self.kind == "invoice":
            return Subscription.stripe_subscription_id == _invoice_subscription(self.value)
        if self.kind in ("order", "session", "payment"):
            return Subscription.stripe_subscription_id.in_(
                select(Order.stripe_subscription_id).where(self.order_condition())
            )
        return Subscription.user_id == self._user_id()

    def customer_condition(self) -> ColumnElement[bool]:
        """Users this search finds."""
        if self.kind in ("order", "session", "payment"):
            return User.id.in_(select(Order.user_id).where(self.order_condition()))
        if self.kind in ("subscription", "invoice"):
            return User.id.in_(select(Subscription.user_id).where(self.member_condition()))
        return User.id == self._user_id()

    def _user_id(self) -> ScalarSelect[Any]:
        """The one user an email or Stripe customer id names, as a scalar subquery (so
        the list query can walk its index on `user_id` directly)."""
        if self.kind == "customer":
            return (
                select(Customer.user_id)
                .where(Customer.stripe_customer_id == self.value)
                .scalar_subquery()
            )
        return select(User.id).where(User.email == self.value).scalar_subquery()


def _invoice_subscription(invoice_id: str) -> ScalarSelect[Any]:
    return (
        select(Invoice.stripe_subscription_id)
        .where(Invoice.stripe_invoice_id == invoice_id)
        .scalar_subquery()
    )


# --- Filters and pages --------------------------------------------------------------


def _flag(args: Mapping[str, str], name: str) -> bool:
    return args.get(name, "") in ("1", "y", "yes", "on", "true")


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text else None
    except ValueError:
        return None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _days_args(first: date | None, last: date | None) -> dict[str, str]:
    """`from` and `to` of a query string for a range of days."""
    return {
        "from": first.isoformat() if first else "",
        "to": last.isoformat() if last else "",
    }


def _between(
    column: InstrumentedAttribute[Any], first: date | None, last: date | None
) -> list[ColumnElement[bool]]:
    """`column` on or after the start of day `first` and before the end of day `last`."""
    found: list[ColumnElement[bool]] = []
    if first:
        found.append(column >= _start_of(first))
    if last:
        found.append(column < _start_of(last + timedelta(days=1)))
    return found


@dataclass(frozen=True)
class OrderFilters:
    """What the orders list shows: a search, a status, a product (book or plan key),
    placed between two days (inclusive, UTC), abandoned orders or not."""

    q: str = ""
    status: str = ""
    product: str = ""
    placed_from: date | None = None
    placed_to: date | None = None
    show_abandoned: bool = False

    @classmethod
    def read(cls, args: Mapping[str, str]) -> OrderFilters:
        """From a query string; unknown statuses and malformed days are left out."""
        status = args.get("status", "").strip()
        return cls(
            q=args.get("q", "").strip()[:255],
            status=status if status in OrderStatus.__members__.values() else "",
            product=args.get("product", "").strip()[:64],
            placed_from=_day(args.get("from")),
            placed_to=_day(args.get("to")),
            show_abandoned=_flag(args, "abandoned"),
        )

    def args(self) -> dict[str, str]:
        """The query string that shows this list again (for page links and the CSV)."""
        found = {
            "q": self.q,
            "status": self.status,
            "product": self.product,
            **_days_args(self.placed_from, self.placed_to),
            "abandoned": "1" if self.show_abandoned else "",
        }
        return {key: value for key, value in found.items() if value}

    def conditions(self, now: datetime | None = None) -> list[ColumnElement[bool]]:
        now = now or utcnow()
        found: list[ColumnElement[bool]] = []
        search = Search.read(self.q)
        if search is not None:
            found.append(search.order_condition())
        if self.status:
            found.append(Order.status == self.status)
        elif not self.show_abandoned:
            found.append(not_(abandoned(now)))
        if self.product:
            found.append(
                Order.id.in_(select(OrderItem.order_id).where(OrderItem.item_key == self.product))
            )
        found += _between(Order.created_at, self.placed_from, self.placed_to)
        return found


def abandoned(now: datetime) -> ColumnElement[bool]:
    """Orders never paid and given up: expired, cancelled, or pending for a day."""
    return or_(
        Order.status.in_([str(status) for status in ABANDONED_STATUSES]),
        and_(Order.status == OrderStatus.PENDING, Order.created_at < now - ABANDONED_AFTER),
    )


@dataclass(frozen=True)
class MemberFilters:
    """What the members list shows: a search, a status (or `cancelling`), a plan, started
    between two days (inclusive, UTC)."""

    q: str = ""
    status: str = ""
    plan: str = ""
    started_from: date | None = None
    started_to: date | None = None

    @classmethod
    def read(cls, args: Mapping[str, str]) -> MemberFilters:
        status = args.get("status", "").strip()
        return cls(
            q=args.get("q", "").strip()[:255],
            status=status if status in MEMBER_STATUSES else "",
            plan=args.get("plan", "").strip()[:64],
            started_from=_day(args.get("from")),
            started_to=_day(args.get("to")),
        )

    def args(self) -> dict[str, str]:
        found = {
            "q": self.q,
            "status": self.status,
            "plan": self.plan,
            **_days_args(self.started_from, self.started_to),
        }
        return {key: value for key, value in found.items() if value}

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        search = Search.read(self.q)
        if search is not None:
            found.append(search.member_condition())
        if self.status == CANCELLING:
            found.append(Subscription.status.in_(sorted(LIVE_STATUSES)))
            found.append(Subscription.cancel_at_period_end.is_(True))
        elif self.status:
            found.append(Subscription.status == self.status)
        if self.plan:
            found.append(Subscription.plan_key == self.plan)
        found += _between(Subscription.started_at, self.started_from, self.started_to)
        return found


@dataclass(frozen=True)
class CustomerFilters:
    """What the customers list shows: a search, with a live membership, with paid orders,
    joined between two days (inclusive, UTC)."""

    q: str = ""
    has_membership: bool = False
    has_orders: bool = False
    joined_from: date | None = None
    joined_to: date | None = None

    @classmethod
    def read(cls, args: Mapping[str, str]) -> CustomerFilters:
        return cls(
            q=args.get("q", "").strip()[:255],
            has_membership=_flag(args, "member"),
            has_orders=_flag(args, "ordered"),
            joined_from=_day(args.get("from")),
            joined_to=_day(args.get("to")),
        )

    def args(self) -> dict[str, str]:
        found = {
            "q": self.q,
            "member": "1" if self.has_membership else "",
            "ordered": "1" if self.has_orders else "",
            **_days_args(self.joined_from, self.joined_to),
        }
        return {key: value for key, value in found.items() if value}

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        search = Search.read(self.q)
        if search is not None:
            found.append(search.customer_condition())
        if self.has_membership:
            found.append(
                exists().where(
                    Subscription.user_id == User.id,
                    Subscription.status.in_(sorted(LIVE_STATUSES)),
                )
            )
        if self.has_orders:
            found.append(exists().where(Order.user_id == User.id, Order.status.in_(_was_paid())))
        found += _between(User.created_at, self.joined_from, self.joined_to)
        return found


def _was_paid() -> list[str]:
    return sorted(str(status) for status in WAS_PAID)


def _paid_order() -> ColumnElement[bool]:
    """An order that was paid (`WAS_PAID`), for queries that reach orders by customer.

    Written over an expression, not the bare `status` column, so no planner walks the
    status index (most of the table is paid) instead of the customer's few orders
    (`ix_orders_user_id_created_at_id`): SQLite keeps no statistics to know better.
    """
    return func.coalesce(Order.status, "").in_(_was_paid())


@dataclass(frozen=True)
class Page(Generic[Row]):
    """One page of a list: its rows, its number, and whether pages come before and after.

    `capped` says a next page exists but lies past MAX_PAGE (narrow the search)."""

    rows: list[Row]
    number: int
    has_next: bool
    capped: bool = False

    @property
    def has_prev(self) -> bool:
        return self.number > 1


def page_number(text: str | None) -> int:
    """The page asked for, between 1 and MAX_PAGE (nonsense is page 1)."""
    try:
        number = int(text or 1)
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


def _paged(rows: Sequence[Row], number: int) -> Page[Row]:
    more = len(rows) > PAGE_SIZE
    return Page(
        list(rows[:PAGE_SIZE]),
        number,
        has_next=more and number < MAX_PAGE,
        capped=more and number >= MAX_PAGE,
    )


def _window(query: AnySelect, number: int) -> AnySelect:
    return query.limit(PAGE_SIZE + 1).offset((number - 1) * PAGE_SIZE)


# --- Orders -------------------------------------------------------------------------


def _orders_query(filters: OrderFilters, now: datetime | None = None) -> AnySelect:
    return (
        select(Order)
        .where(*filters.conditions(now))
        .options(selectinload(Order.items), selectinload(Order.user))
        .order_by(Order.created_at.desc(), Order.id.desc())
    )


def order_page(filters: OrderFilters, number: int = 1, now: datetime | None = None) -> Page[Order]:
    """One page of orders, newest first: three queries (orders, their lines, their users)."""
    rows = db.session.execute(_window(_orders_query(filters, now), number)).scalars().all()
    return _paged(rows, number)


def _batches(
    query: AnySelect, keys: Sequence[Any], key_of: Any, scalars: bool = True
) -> Iterator[Sequence[Any]]:
    """Every row of `query` (ordered by `keys`, descending), EXPORT_BATCH rows a read,
    each read continuing below the last row's key: no OFFSET, no long-open cursor."""
    last: tuple[Any, ...] | None = None
    while True:
        batch_query = query
        if last is not None:
            batch_query = batch_query.where(_below(keys, last))
        result = db.session.execute(batch_query.limit(EXPORT_BATCH))
        batch: Sequence[Any] = result.scalars().all() if scalars else result.all()
        if batch:
            yield batch
        if len(batch) < EXPORT_BATCH:
            return
        last = key_of(batch[-1])


def _below(keys: Sequence[Any], last: tuple[Any, ...]) -> ColumnElement[bool]:
    """Rows after `last` in descending order of `keys`: a row-value comparison, which
    SQLite and PostgreSQL both answer from the index the order follows."""
    values = [literal(value, type_=key.type) for key, value in zip(keys, last, strict=True)]
    below: ColumnElement[bool] = tuple_(*keys) < tuple_(*values)
    return below


def decimal_amount(amount: int | None, currency: str) -> str:
    """Minor units as a decimal in the currency's own places (`1299` → `12.99`)."""
    if amount is None:
        return ""
    return str(Decimal(amount).scaleb(-exponent(currency)))


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a `'`."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """CSV text, a line at a time (for a streamed response or a file), every cell safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([safe_cell(cell) for cell in row])
        yield buffer.getvalue()


ORDER_COLUMNS = (
    "order",
    "placed_at",
    "status",
    "email",
    "kind",
    "items",
    "currency",
    "total",
    "discount",
    "postage",
    "paid",
    "refunded",
    "checkout_session",
    "payment_intent",
    "stripe_customer",
    "stripe_subscription",
)


def _order_export_query(filters: OrderFilters, now: datetime | None) -> AnySelect:
    """The orders list's rows as plain columns (no objects to build: 100,000 rows)."""
    return (
        select(
            Order.id,
            Order.created_at,
            Order.status,
            User.email,
            Order.kind,
            Order.currency,
            Order.amount_total,
            Order.amount_discount,
            Order.shipping_amount,
            Order.amount_paid,
            Order.amount_refunded,
            Order.checkout_session_id,
            Order.payment_intent_id,
            Order.stripe_customer_id,
            Order.stripe_subscription_id,
        )
        .join(User, User.id == Order.user_id)
        .where(*filters.conditions(now))
        .order_by(Order.created_at.desc(), Order.id.desc())
    )


def _order_rows(filters: OrderFilters, now: datetime | None) -> Iterator[list[object]]:
    """Each matching order as a CSV row (ORDER_COLUMNS): two queries per batch."""
    for batch in _batches(
        _order_export_query(filters, now),
        [Order.created_at, Order.id],
        lambda row: (row.created_at, row.id),
        scalars=False,
    ):
        items: dict[int, list[str]] = {}
        for order_id, quantity, key in db.session.execute(
            select(OrderItem.order_id, OrderItem.quantity, OrderItem.item_key)
            .where(OrderItem.order_id.in_([row.id for row in batch]))
            .order_by(OrderItem.id)
        ):
            items.setdefault(order_id, []).append(f"{quantity} × {key}")
        for row in batch:
            money = row.currency
            yield [
                Order.reference_for(row.id),
                row.created_at.isoformat(),
                row.status,
                row.email,
                row.kind,
                "; ".join(items.get(row.id, [])),
                money.upper(),
                decimal_amount(row.amount_total, money),
                decimal_amount(row.amount_discount, money),
                decimal_amount(row.shipping_amount, money),
                decimal_amount(row.amount_paid, money),
                decimal_amount(row.amount_refunded, money),
                row.checkout_session_id,
                row.payment_intent_id,
                row.stripe_customer_id,
                row.stripe_subscription_id,
            ]


def orders_csv(filters: OrderFilters, now: datetime | None = None) -> Iterator[str]:
    """The orders list as CSV: every matching order, not one page; money as decimals
    beside its currency."""
    return csv_lines(ORDER_COLUMNS, _order_rows(filters, now))


# --- Members ------------------------------------------------------------------------


def _members_query(filters: MemberFilters) -> AnySelect:
    return (
        select(Subscription)
        .where(*filters.conditions())
        .options(selectinload(Subscription.user))
        .order_by(Subscription.id.desc())
    )


def member_page(filters: MemberFilters, number: int = 1) -> Page[Subscription]:
    """One page of memberships, newest first: two queries (memberships, their users)."""
    rows = db.session.execute(_window(_members_query(filters), number)).scalars().all()
    return _paged(rows, number)


MEMBER_COLUMNS = (
    "member",
    "email",
    "plan",
    "interval",
    "status",
    "cancelling",
    "current_period_end",
    "trial_end",
    "canceled_at",
    "stripe_subscription",
    "stripe_customer",
)


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def member_row(membership: Subscription) -> list[object]:
    return [
        membership.id,
        membership.user.email if membership.user else "",
        membership.plan_key or "",
        membership.interval or "",
        membership.status,
        "yes" if membership.cancel_at_period_end and membership.is_live else "no",
        _iso(membership.current_period_end),
        _iso(membership.trial_end),
        _iso(membership.canceled_at),
        membership.stripe_subscription_id,
        membership.stripe_customer_id,
    ]


def members_csv(filters: MemberFilters) -> Iterator[str]:
    """The members list as CSV: every matching membership."""
    batches = _batches(_members_query(filters), [Subscription.id], lambda found: (found.id,))
    return csv_lines(
        MEMBER_COLUMNS, (member_row(membership) for batch in batches for membership in batch)
    )


# --- Customers ----------------------------------------------------------------------


@dataclass
class CustomerRow:
    """A user as the customers list shows them."""

    user: User
    stripe_customer_id: str | None
    paid_orders: int = 0
    #: Money spent per currency: paid orders less refunds, plus membership renewals.
    spent: dict[str, int] = field(default_factory=dict)
    membership: Subscription | None = None

    @property
    def spent_sorted(self) -> list[tuple[str, int]]:
        return sorted(self.spent.items())


def _customers_query(filters: CustomerFilters) -> AnySelect:
    query: AnySelect = (
        select(User, Customer.stripe_customer_id)
        .outerjoin(Customer, Customer.user_id == User.id)
        .where(*filters.conditions())
        .order_by(User.id.desc())
    )
    return query


def _customer_rows(found: Sequence[Any]) -> list[CustomerRow]:
    """Rows for (user, Stripe customer id) pairs, with their totals: three queries."""
    rows = {user.id: CustomerRow(user, customer_id) for user, customer_id in found}
    ids = list(rows)
    for user_id, currency, count, spent in db.session.execute(
        select(
            Order.user_id,
            Order.currency,
            func.count(),
            func.sum(Order.amount_paid - Order.amount_refunded),
        )
        .where(Order.user_id.in_(ids), _paid_order())
        .group_by(Order.user_id, Order.currency)
    ):
        row = rows[user_id]
        row.paid_orders += int(count)
        row.spent[currency] = row.spent.get(currency, 0) + int(spent or 0)
    for user_id, currency, paid in db.session.execute(
        select(Customer.user_id, Invoice.currency, func.sum(Invoice.amount_paid))
        .join(Customer, Customer.stripe_customer_id == Invoice.stripe_customer_id)
        .where(
            Customer.user_id.in_(ids),
            or_(Invoice.billing_reason.is_(None), Invoice.billing_reason != "subscription_create"),
        )
        .group_by(Customer.user_id, Invoice.currency)
    ):
        row = rows[user_id]
        row.spent[currency] = row.spent.get(currency, 0) + int(paid or 0)
    for membership in db.session.execute(
        select(Subscription).where(Subscription.user_id.in_(ids)).order_by(Subscription.id.desc())
    ).scalars():
        row = rows[membership.user_id or 0]  # selected by user_id: never None
        if row.membership is None or (membership.is_live and not row.membership.is_live):
            row.membership = membership
    return list(rows.values())


def customer_page(filters: CustomerFilters, number: int = 1) -> Page[CustomerRow]:
    """One page of customers, newest accounts first: four queries (users with their
    Stripe customer ids, then orders, renewals and memberships of those users)."""
    found = db.session.execute(_window(_customers_query(filters), number)).all()
    page: Page[Any] = _paged(found, number)
    return Page(_customer_rows(page.rows), page.number, page.has_next, page.capped)


CUSTOMER_COLUMNS = (
    "customer",
    "email",
    "stripe_customer",
    "paid_orders",
    "currency",
    "spent",
    "membership",
    "membership_status",
)


def customer_csv_rows(row: CustomerRow) -> Iterator[list[object]]:
    """One CSV row per currency the customer spent in (one row if none)."""
    membership = row.membership
    spent: list[tuple[str, int | None]] = [*row.spent_sorted] or [("", None)]
    for currency, amount in spent:
        yield [
            row.user.id,
            row.user.email,
            row.stripe_customer_id or "",
            row.paid_orders,
            currency.upper(),
            decimal_amount(amount, currency) if currency else "",
            membership.plan_key if membership else "",
            membership.status if membership else "",
        ]


def customers_csv(filters: CustomerFilters) -> Iterator[str]:
    """The customers list as CSV: every matching account, a row per currency spent in."""
    batches = _batches(
        _customers_query(filters), [User.id], lambda pair: (pair[0].id,), scalars=False
    )
    return csv_lines(
        CUSTOMER_COLUMNS,
        (
            line
            for batch in batches
            for row in _customer_rows(batch)
            for line in customer_csv_rows(row)
        ),
    )


# --- Detail pages -------------------------------------------------------------------


def membership_of(order: Order) -> Subscription | None:
    """The membership an order started (or paid for), if Quire has it."""
    if not order.stripe_subscription_id:
        return None
    return db.session.execute(
        select(Subscription).filter_by(stripe_subscription_id=order.stripe_subscription_id)
    ).scalar_one_or_none()


@dataclass(frozen=True)
class MemberDetail:
    membership: Subscription
    invoices: list[Invoice]
    orders: list[Order]


def member_detail(subscription_id: int) -> MemberDetail | None:
    """A membership with its invoices and orders, newest first (None if there is none)."""
    membership = db.session.get(Subscription, subscription_id)
    if membership is None:
        return None
    invoices = db.session.execute(
        select(Invoice)
        .filter_by(stripe_subscription_id=membership.stripe_subscription_id)
        .order_by(Invoice.created_at.desc(), Invoice.id.desc())
    ).scalars()
    orders = db.session.execute(
        select(Order)
        .filter_by(stripe_subscription_id=membership.stripe_subscription_id)
        .order_by(Order.created_at.desc(), Order.id.desc())
    ).scalars()
    return MemberDetail(membership, list(invoices), list(orders))


#: The most orders a customer's page lists (the rest: the orders list, by email).
CUSTOMER_ORDERS_SHOWN = 100


@dataclass(frozen=True)
class CustomerDetail:
    row: CustomerRow
    orders: list[Order]
    more_orders: bool
    memberships: list[Subscription]


def customer_detail(user_id: int) -> CustomerDetail | None:
    """A user with their Stripe customer, orders (newest first), memberships and money
    spent (None if there is no such user)."""
    found = db.session.execute(
        select(User, Customer.stripe_customer_id)
        .outerjoin(Customer, Customer.user_id == User.id)
        .where(User.id == user_id)
    ).all()
    if not found:
        return None
    (row,) = _customer_rows(found)
    orders = (
        db.session.execute(
            select(Order)
            .filter_by(user_id=user_id)
            .options(selectinload(Order.items))
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(CUSTOMER_ORDERS_SHOWN + 1)
        )
        .scalars()
        .all()
    )
    memberships = db.session.execute(
        select(Subscription).filter_by(user_id=user_id).order_by(Subscription.id.desc())
    ).scalars()
    return CustomerDetail(
        row,
        list(orders[:CUSTOMER_ORDERS_SHOWN]),
        len(orders) > CUSTOMER_ORDERS_SHOWN,
        list(memberships),
    )


@dataclass(frozen=True)
class FailedInvoice:
    """A membership invoice still open after a failed attempt, with whose it is."""

    invoice: Invoice
    membership_id: int | None
    email: str | None


def failed_invoices(limit: int | None = None) -> list[FailedInvoice]:
    """Membership invoices open after a failed attempt, newest first (the newest `limit`
    of them), with the member's email and membership (for the dashboard)."""
    found = db.session.execute(
        select(Invoice, Subscription.id, User.email)
        .outerjoin(
            Subscription, Subscription.stripe_subscription_id == Invoice.stripe_subscription_id
        )
        .outerjoin(User, User.id == Subscription.user_id)
        .where(Invoice.status == "open", Invoice.attempt_count > 0)
        .order_by(Invoice.id.desc())
        .limit(limit)
    ).all()
    return [FailedInvoice(invoice, member, email) for invoice, member, email in found]
