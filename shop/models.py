"""Quire's own records, kept in step with Stripe by webhooks and the success page.

Money is integer minor units; times are timezone-aware UTC. Rows that mirror Stripe
objects are keyed by the Stripe id with a unique constraint, so a racing duplicate
fails at the database instead of creating a second row.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.catalogue import ProductKind
from shop.extensions import db
from shop.passwords import check_password_hash, hash_password

#: How an order's reference (its `client_reference_id` at Stripe) begins: `order-12`.
ORDER_REFERENCE_PREFIX = "order-"
#: Metadata keys Quire puts on Stripe objects (sessions, payments, refunds, customers) to
#: find its own records again.
ORDER_ID_METADATA = "order_id"
USER_ID_METADATA = "user_id"
#: How much of a failed event's error is kept (type and message; no traceback).
EVENT_ERROR_LENGTH = 500
#: Subscription statuses in which the member enjoys the membership (trial and grace included).
LIVE_STATUSES = frozenset({"trialing", "active", "past_due"})


def utcnow() -> datetime:
    """Now, timezone-aware UTC (used as a callable default, never evaluated at import)."""
    return datetime.now(UTC)


def from_timestamp(value: int | None) -> datetime | None:
    """A Stripe unix timestamp as an aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns them aware (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Quire stores only aware UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    """A shopper (or an admin) who signs in with email and password."""

    __tablename__ = "users"
    #: `sign_in_token` below is a plain attribute, not a column.
    __allow_unmapped__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer: Mapped[Customer | None] = relationship(back_populates="user")

    def set_password(self, password: str) -> None:
        self.password_hash = hash_password(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    #: The live sign-in this user came through in this request (`shop.accounts`); what
    #: Flask-Login keeps in the session, so ending the sign-in ends the session.
    sign_in_token: str | None = None

    def get_id(self) -> str:
        """Flask-Login's id for the session cookie: the sign-in's token, not the user's id."""
        if not self.sign_in_token:
            raise RuntimeError("sign users in through shop.accounts.start_sign_in")
        return self.sign_in_token


class SignIn(db.Model):  # type: ignore[name-defined,misc]
    """One signed-in browser. The session cookie holds its token; the row keeps only a
    digest of it. Ended by signing out, and by a password change (the others) or reset
    (all), so a copied cookie stops working when the sign-in ends.
    """

    __tablename__ = "sign_ins"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship()


class PendingSignUp(db.Model):  # type: ignore[name-defined,misc]
    """A sign-up waiting for its mailed link: the link carries only a random token, whose
    digest is the key here; the password's hash never leaves the server."""

    __tablename__ = "pending_sign_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    next_path: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Customer(db.Model):  # type: ignore[name-defined,misc]
    """The Stripe customer that stands for one user; created once per user."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="customer")


class OrderStatus(enum.StrEnum):
    """Where an order stands. Later stages never fall back to earlier ones (see `RANK`)."""

    PENDING = "pending"
    AWAITING_PAYMENT = "awaiting_payment"
    EXPIRED = "expired"
    PAYMENT_FAILED = "payment_failed"
    CANCELLED = "cancelled"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    DISPUTED = "disputed"


#: Statuses of an order that ended unpaid: its copies go back and its cart stays.
ENDED_UNPAID = frozenset({OrderStatus.EXPIRED, OrderStatus.PAYMENT_FAILED, OrderStatus.CANCELLED})
#: Statuses of an order that was paid (whatever happened to the money since).
WAS_PAID = frozenset(
    {
        OrderStatus.PAID,
        OrderStatus.PARTIALLY_REFUNDED,
        OrderStatus.REFUNDED,
        OrderStatus.DISPUTED,
    }
)


class StockState(enum.StrEnum):
    """What an order does with copies of stock-limited books (`stock_levels`).

    Each move is one guarded UPDATE on the order (`WHERE stock_state = <from>`), so a
    replayed or racing event cannot release or consume the same copies twice.
    """

    NONE = "none"  # holds nothing (yet, or ever)
    HELD = "held"  # counted in `StockLevel.held` while its Checkout Session is open
    RELEASED = "released"  # given back (expired, failed, cancelled)
    SOLD = "sold"  # paid: counted in `StockLevel.sold`
    RESTOCKED = "restocked"  # refunded and the admin put the copies back


class CartState(enum.StrEnum):
    """Where an order made from the shopper's cart stands towards that cart."""

    OPEN = "open"  # pending: the cart's lines are still there
    CLOSED = "closed"  # ended unpaid: the cart is kept as it was
    SETTLED = "settled"  # paid: the ordered quantities were taken out of the cart


#: An order only moves up this ladder, so a stale or replayed event cannot undo a later one.
#: Cancelled sits above expired: the shopper's cancel expires the session, and Stripe's
#: `checkout.session.expired` that follows (even when it lands first) must not hide why.
RANK = {
    OrderStatus.PENDING: 0,
    OrderStatus.AWAITING_PAYMENT: 1,
    OrderStatus.EXPIRED: 2,
    OrderStatus.PAYMENT_FAILED: 2,
    OrderStatus.CANCELLED: 3,
    OrderStatus.PAID: 4,
    OrderStatus.PARTIALLY_REFUNDED: 5,
    OrderStatus.REFUNDED: 6,
    OrderStatus.DISPUTED: 7,
}


#: The condition of an open membership sign-up: a membership order not yet paid for.
OPEN_SIGNUP = text("kind = 'membership' AND status = 'pending'")


class Order(db.Model):  # type: ignore[name-defined,misc]
    """One Checkout attempt: created pending before Stripe is called, so nothing is lost.

    A user has at most one open membership sign-up (`OPEN_SIGNUP`), enforced by a partial
    unique index, so five presses of Subscribe at once cannot start two memberships.
    """

    __tablename__ = "orders"
    __table_args__ = (
        Index(
            "uq_orders_one_open_signup_per_user",
            "user_id",
            unique=True,
            sqlite_where=OPEN_SIGNUP,
            postgresql_where=OPEN_SIGNUP,
        ),
        # The admin's orders list (`shop/admin_lists.py`): newest first, all or by status
        # or by customer, each an index scan in that order.
        Index("ix_orders_created_at_id", "created_at", "id"),
        Index("ix_orders_status_created_at_id", "status", "created_at", "id"),
        Index("ix_orders_user_id_created_at_id", "user_id", "created_at", "id"),
        # Orders still holding copies after their checkout page lapsed (`stock.expire_lapsed`,
        # on every account and order page): the few held ones by expiry, not every
        # cancelled order.
        Index("ix_orders_stock_state_expires_at", "stock_state", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # a ProductKind: "book" or "membership"
    status: Mapped[str] = mapped_column(String(32), default=OrderStatus.PENDING, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_total: Mapped[int]  # what the catalogue priced it at, minor units
    #: A member's discount on its printed books, from the catalogue (0: none).
    amount_discount: Mapped[int] = mapped_column(default=0)
    #: The Stripe coupon that discount was sent to Checkout as.
    discount_coupon_id: Mapped[str | None] = mapped_column(String(255))
    amount_paid: Mapped[int | None]
    amount_refunded: Mapped[int] = mapped_column(default=0)
    #: Refunds sent (or being sent) to Stripe from the admin's form and not yet recorded
    #: in `amount_refunded`: reserved by a guarded UPDATE before Stripe is called.
    amount_refund_reserved: Mapped[int] = mapped_column(default=0, server_default="0")
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    payment_status: Mapped[str | None] = mapped_column(String(32))
    ships: Mapped[bool] = mapped_column(default=False)  # a printed book: collect an address
    holds_stock: Mapped[bool] = mapped_column(default=False)  # its copies are counted
    trial_days: Mapped[int | None]
    plan_key: Mapped[str | None] = mapped_column(String(64))  # a membership order's plan
    #: When the current Checkout Session stops taking payment (set for each new session).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stock_state: Mapped[str] = mapped_column(String(16), default=StockState.NONE)
    cart_state: Mapped[str | None] = mapped_column(String(16))  # None: not from the cart
    #: The user while this is their one open cart order: unique, so a double-clicked
    #: Checkout cannot make a second one.
    open_cart_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    checkout_attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: Indexed with the id (`ix_orders_created_at_id`): the admin's lists page by it and
    #: the dashboard counts checkouts opened per period.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Posting a printed book: the destination the shopper chose before paying, then what
    # Stripe collected (recipient, address lines, postage and its name), then dispatch.
    ship_to_country: Mapped[str | None] = mapped_column(String(2))
    shipping_name: Mapped[str | None] = mapped_column(String(255))
    shipping_address: Mapped[str | None] = mapped_column(Text)  # one line per line
    shipping_amount: Mapped[int | None]
    shipping_method: Mapped[str | None] = mapped_column(String(255))
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    tracking_reference: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItem.id"
    )

    @property
    def product_kind(self) -> ProductKind:
        return ProductKind(self.kind)

    @property
    def amount_due(self) -> int:
        """What the shopper is expected to pay: the catalogue price less any discount."""
        return self.amount_total - self.amount_discount

    @property
    def reference(self) -> str:
        """The id shown to shoppers and sent to Stripe as `client_reference_id`."""
        return self.reference_for(self.id)

    @staticmethod
    def reference_for(order_id: int) -> str:
        """The reference of the order with this id (`order-12`)."""
        return f"{ORDER_REFERENCE_PREFIX}{order_id}"

    @classmethod
    def id_from_reference(cls, reference: str | None) -> int | None:
        """The order id a reference names (`order-12` → 12), or None for a blank, foreign
        or malformed one: only what `reference_for` writes is read back.
        """
        if not reference or not reference.startswith(ORDER_REFERENCE_PREFIX):
            return None
        digits = reference.removeprefix(ORDER_REFERENCE_PREFIX)
        if not (digits.isascii() and digits.isdigit()):
            return None
        order_id = int(digits)
        return order_id if cls.reference_for(order_id) == reference else None

    @property
    def shipping_lines(self) -> list[str]:
        """The delivery address as lines for a label (empty until Stripe collected one)."""
        return self.shipping_address.splitlines() if self.shipping_address else []

    @property
    def oversold(self) -> int:
        """Copies paid for that the shop no longer had (see `OrderItem.copies_short`)."""
        return sum(item.copies_short for item in self.items)

    def advance(self, status: OrderStatus) -> bool:
        """Move to `status` unless the order is already further along; True if it moved."""
        if RANK[status] <= RANK[OrderStatus(self.status)] and status != self.status:
            return False
        changed = status != self.status
        self.status = status
        if status != OrderStatus.PENDING:
            self.open_cart_user_id = None
        if status in ENDED_UNPAID and self.cart_state == CartState.OPEN:
            self.cart_state = CartState.CLOSED
        if status == OrderStatus.PAID and self.paid_at is None:
            self.paid_at = utcnow()
        return changed


class OrderItem(db.Model):  # type: ignore[name-defined,misc]
    """A line of an order, priced from the catalogue when the order was made."""

    __tablename__ = "order_items"
    #: The admin's orders list filters by product.
    __table_args__ = (Index("ix_order_items_item_key_order_id", "item_key", "order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    item_key: Mapped[str] = mapped_column(String(64))
    lookup_key: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(255))
    unit_amount: Mapped[int]
    quantity: Mapped[int]
    #: Copies paid for that were no longer there to give (the hold had lapsed and the
    #: copies were sold to someone else): the admin refunds them or finds a copy.
    copies_short: Mapped[int] = mapped_column(default=0, server_default="0")

    order: Mapped[Order] = relationship(back_populates="items")

    @property
    def line_total(self) -> int:
        return self.unit_amount * self.quantity


class CartLine(db.Model):  # type: ignore[name-defined,misc]
    """A book in a signed-in shopper's cart (signed-out carts live in the Flask session)."""

    __tablename__ = "cart_lines"
    __table_args__ = (UniqueConstraint("user_id", "book_key", name="uq_cart_lines_user_book"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    book_key: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int]
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockLevel(db.Model):  # type: ignore[name-defined,misc]
    """Copies of a stock-limited printed book sold and held; made on first need.

    What is left for sale is the catalogue's `stock` (the copies allotted to the shop in
    total) less `sold` less `held`; holds are taken with one guarded UPDATE each.
    """

    __tablename__ = "stock_levels"

    book_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    held: Mapped[int] = mapped_column(default=0)
    sold: Mapped[int] = mapped_column(default=0)


class Subscription(db.Model):  # type: ignore[name-defined,misc]
    """A membership, mirrored from the Stripe subscription it follows."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(255), index=True)
    plan_key: Mapped[str | None] = mapped_column(String(64))
    interval: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(32), index=True)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    trial_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When Quire first saw it past due (None in any other status): the grace period's start.
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What it charges per `interval` after its discounts, minor units (None: not known yet).
    amount: Mapped[int | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    #: Stripe's `start_date` and `ended_at`: when the membership began and ended.
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User | None] = relationship()

    @property
    def is_live(self) -> bool:
        """True while the member enjoys the membership (including trial and grace)."""
        return self.status in LIVE_STATUSES


class Invoice(db.Model):  # type: ignore[name-defined,misc]
    """A Stripe invoice of a membership (first payment, renewals, failures)."""

    __tablename__ = "invoices"
    #: The dashboard's newest failed invoices (open ones, newest first).
    __table_args__ = (Index("ix_invoices_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_invoice_id: Mapped[str] = mapped_column(String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str | None] = mapped_column(String(32))
    billing_reason: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    amount_due: Mapped[int]
    amount_paid: Mapped[int]
    attempt_count: Mapped[int] = mapped_column(default=0)
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MoneyMovementKind(enum.StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"


class MoneyMovement(db.Model):  # type: ignore[name-defined,misc]
    """Money that came in (a payment) or went back (a refund), when Stripe says it did.

    One row per Stripe object (`stripe_id`, unique: the Checkout Session that paid an
    order, the invoice that renewed a membership, the refund), so recording the same
    object again adds nothing. `amount` is positive either way; `kind` gives its sign.
    """

    __tablename__ = "money_movements"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    stripe_id: Mapped[str] = mapped_column(String(255), unique=True)
    #: The order or invoice the money was for: plain references, so the ledger never
    #: stands in the way of tidying other records.
    order_id: Mapped[int | None] = mapped_column(index=True)
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(255), index=True)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ProcessedEvent(db.Model):  # type: ignore[name-defined,misc]
    """Every verified Stripe event delivery Quire has seen, and what became of it.

    The primary key is Stripe's event id, so a duplicate delivery — even two at the same
    moment — cannot be applied twice: the second insert fails and its work rolls back.
    `outcome` is `processed` or `ignored` (committed with the event's effects: later
    deliveries are duplicates) or `failed` (written in a transaction of its own after
    the effects rolled back, so the error survives; a later delivery or a replay may
    still apply it, and turns it `processed` by a guarded UPDATE, once).
    """

    __tablename__ = "processed_events"
    __table_args__ = (Index("ix_processed_events_outcome_received_at", "outcome", "received_at"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    outcome: Mapped[str] = mapped_column(String(20))  # processed, ignored or failed
    stripe_created: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    raw_json: Mapped[str] = mapped_column(Text)  # the body exactly as Stripe sent it
    #: The id of the event's `data.object` (`cs_…`, `sub_…`), to find an object's events.
    object_id: Mapped[str | None] = mapped_column(String(255), index=True)
    #: Deliveries and replays that ran the handler (duplicates are not counted).
    attempts: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    #: The last failure: exception type and message, cut to `EVENT_ERROR_LENGTH`.
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the event's effects committed (None while it has only failed).
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MailStatus(enum.StrEnum):
    """Where a mail is: waiting, being handed to the mail server, or handed over."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class Mail(db.Model):  # type: ignore[name-defined,misc]
    """A mail the shop sends, written in the transaction of what it tells about.

    `key` names the happening it reports ("receipt:order:12"), unique, so a replayed
    webhook or a double click cannot queue it twice; it is sent only once committed.
    """

    __tablename__ = "mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(50), index=True)
    to_address: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(255))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=MailStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ObjectVersion(db.Model):  # type: ignore[name-defined,misc]
    """How many times Quire has written what it mirrors of one Stripe object.

    Keyed by the Stripe id (a subscription, an invoice) or, for an order, the reference
    Stripe knows it by (`order-12`, which its sessions, charges and disputes write).
    `shop.mirror` bumps it with a guarded UPDATE in every write from a retrieve, so an
    older retrieve can never overwrite what a newer one wrote.
    """

    __tablename__ = "stripe_object_versions"

    stripe_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(default=1)


class RefundRequestState(enum.StrEnum):
    RESERVED = "reserved"  # its amount is held in Order.amount_refund_reserved
    RECORDED = "recorded"  # Stripe made it and the order's refunded total includes it
    FAILED = "failed"  # Stripe refused or could not be reached; nothing held


class RefundRequest(db.Model):  # type: ignore[name-defined,misc]
    """One refund form sent: its one-time nonce, used for one amount only.

    Unique per order and nonce, so the same form sent twice at once makes one row (and
    one Stripe call); a form whose refund failed may be sent again for the same amount.
    """

    __tablename__ = "refund_requests"
    __table_args__ = (UniqueConstraint("order_id", "nonce", name="uq_refund_requests_order_nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    nonce: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), default=RefundRequestState.RESERVED)
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEndpoint(db.Model):  # type: ignore[name-defined,misc]
    """A webhook endpoint `release` registered at Stripe, with its signing secret.

    Stripe shows an endpoint's secret once, when it is created; keeping it here lets the
    webhook verify deliveries without anyone copying it into the platform's settings.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_endpoint_id: Mapped[str] = mapped_column(String(255), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CatalogueSync(db.Model):  # type: ignore[name-defined,misc]
    """A catalogue file `release` made Stripe match (its SHA-256), and when.

    During a Stripe outage a release still goes out when the catalogue is the one last
    synced: nothing at Stripe needs to change for it.
    """

    __tablename__ = "catalogue_syncs"

    id: Mapped[int] = mapped_column(primary_key=True)
    catalogue_sha256: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class StripePrice(db.Model):  # type: ignore[name-defined,misc]
    """The active Stripe Price of one catalogue lookup key, as `catalog sync` left it.

    Every worker reads Price ids here (one query per checkout) instead of asking Stripe,
    so all of them agree the moment a sync has run; checkout compares the amount,
    currency and interval with the catalogue before it makes an order.
    """

    __tablename__ = "stripe_prices"

    lookup_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    stripe_price_id: Mapped[str] = mapped_column(String(255))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str | None] = mapped_column(String(10))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
