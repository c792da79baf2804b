"""Starting a purchase: a pending order first, then a Stripe-hosted Checkout Session.

The order is committed before Stripe is called, so a Stripe outage never loses what the
shopper chose. Every amount comes from the catalogue; the shopper sends only a key, a
quantity or an interval. The Price id is resolved from the catalogue's lookup key and
its amount checked against the catalogue, so an unsynced Stripe cannot charge a
different amount either.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import stripe
from sqlalchemy.exc import IntegrityError
from stripe.params.checkout import SessionCreateParams, SessionCreateParamsSubscriptionData

from shop import fulfilment
from shop.catalogue import Book, Catalogue, Plan, SellingPrice
from shop.extensions import db
from shop.models import Customer, Order, OrderItem, OrderStatus, Subscription, User, utcnow
from shop.stripe_client import describe_error

log = logging.getLogger(__name__)

MAX_QUANTITY = 10
#: How long a pending order holds copies of a stock-limited book. Its Checkout Session
#: expires by then (Stripe's shortest expiry is 30 minutes), so it cannot be paid later.
STOCK_HOLD = timedelta(minutes=31)
#: Countries a printed book can be posted to.
SHIPPING_COUNTRIES: list[Any] = [
    "GB",
    "IE",
    "FR",
    "DE",
    "NL",
    "BE",
    "ES",
    "IT",
    "SE",
    "DK",
    "US",
    "CA",
    "AU",
    "NZ",
]


class CheckoutRefused(ValueError):
    """The shopper asked for something that cannot be sold (the message says why)."""


class PaymentsUnavailable(RuntimeError):
    """Stripe could not be reached or refused us; the order is kept for a retry."""

    def __init__(self, order: Order, error: Exception) -> None:
        super().__init__(str(error))
        self.order = order


class PriceDirectory:
    """Stripe Price ids by lookup key, read with one list call and kept for a while.

    Checkout needs a Price id for each line; looking it up on every purchase would add a
    Stripe round trip, so resolved prices are cached per process for `ttl` seconds.
    """

    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self._prices: dict[str, tuple[float, stripe.Price]] = {}
        self._lock = threading.Lock()

    def resolve(self, client: stripe.StripeClient, wanted: SellingPrice) -> str:
        """The id of the active Price for `wanted`, checked against the catalogue amount."""
        now = time.monotonic()
        with self._lock:
            cached = self._prices.get(wanted.lookup_key)
        if cached is None or now - cached[0] > self.ttl or not _same(cached[1], wanted):
            listing = client.v1.prices.list(
                params={"lookup_keys": [wanted.lookup_key], "active": True, "limit": 1}
            )
            if not listing.data:
                raise CatalogueNotSynced(wanted.lookup_key, "no active Stripe price")
            with self._lock:
                self._prices[wanted.lookup_key] = (now, listing.data[0])
            cached = (now, listing.data[0])
        price = cached[1]
        if not _same(price, wanted):
            raise CatalogueNotSynced(
                wanted.lookup_key, "Stripe's amount differs from the catalogue"
            )
        return price.id

    def forget(self) -> None:
        with self._lock:
            self._prices.clear()


class CatalogueNotSynced(RuntimeError):
    """Stripe does not hold the catalogue's price: run `flask --app wsgi catalog sync`."""

    def __init__(self, lookup_key: str, reason: str) -> None:
        super().__init__(f"{lookup_key}: {reason}; run `flask --app wsgi catalog sync`")


def _same(price: stripe.Price, wanted: SellingPrice) -> bool:
    interval = price.recurring.interval if price.recurring else None
    return (
        price.unit_amount == wanted.amount
        and price.currency == wanted.currency
        and interval == wanted.interval
    )


def _key(*parts: object) -> str:
    """A stable idempotency key from the parts that make a request unique."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]
    return f"quire-{digest}"


def ensure_customer(client: stripe.StripeClient, user: User, known: str | None) -> str:
    """The user's Stripe customer id (`known`, when they have one), creating it once.

    The idempotency key is derived from the user, so two simultaneous first purchases
    get the same Stripe customer; the unique constraint keeps one local row.
    """
    if known is not None:
        return known
    customer = client.v1.customers.create(
        params={"email": user.email, "metadata": {"user_id": str(user.id)}},
        options={
            "idempotency_key": _key("customer", user.id, user.email, user.created_at.isoformat())
        },
    )
    try:
        db.session.add(Customer(user_id=user.id, stripe_customer_id=customer.id))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = db.session.execute(
            db.select(Customer.stripe_customer_id).filter_by(user_id=user.id)
        ).scalar_one()
        db.session.commit()
        return str(existing)
    return customer.id


@dataclass(frozen=True)
class CheckoutStart:
    """Where to send the shopper next: Stripe's page, or the order's confirmation."""

    order: Order
    url: str


def _selling_price(order: Order) -> SellingPrice:
    """The catalogue price the order was made at (lookup key, amount, interval)."""
    item = order.items[0]
    interval = item.lookup_key.split(":")[2] if order.kind == "membership" else None
    return SellingPrice(item.lookup_key, item.unit_amount, order.currency, interval)  # type: ignore[arg-type]


def _session_params(
    order: Order, price_id: str, customer_id: str, site_url: str
) -> SessionCreateParams:
    """Checkout Session parameters for an order, every amount from its catalogue lines.

    Typed with the SDK's own `SessionCreateParams`, so mypy checks every field we send.
    """
    item = order.items[0]
    metadata = {"order_id": str(order.id), "user_id": str(order.user_id)}
    params: SessionCreateParams = {
        "customer": customer_id,
        "line_items": [{"price": price_id, "quantity": item.quantity}],
        "success_url": f"{site_url}/orders/{order.id}/confirmation?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{site_url}/orders/{order.id}/cancelled",
        "client_reference_id": order.reference,
        "metadata": metadata,
        "allow_promotion_codes": True,
    }
    if order.kind == "membership":
        subscription_data: SessionCreateParamsSubscriptionData = {
            "metadata": {**metadata, "plan": item.item_key}
        }
        if order.trial_days:
            subscription_data["trial_period_days"] = order.trial_days
        params["mode"] = "subscription"
        params["subscription_data"] = subscription_data
    else:
        params["mode"] = "payment"
        params["payment_intent_data"] = {"metadata": metadata}
        if order.ships:
            params["shipping_address_collection"] = {"allowed_countries": SHIPPING_COUNTRIES}
        if order.holds_stock:
            # The session must not outlive the copies it holds (see STOCK_HOLD).
            params["expires_at"] = int((order.created_at + STOCK_HOLD).timestamp()) + 60
    return params


def _unavailable(order: Order, error: Exception) -> PaymentsUnavailable:
    """Log a Stripe failure with its request id, note it on the order, keep the order."""
    detail = describe_error(error) if isinstance(error, stripe.StripeError) else str(error)
    log.error("checkout for %s failed: %s", order.reference, detail)
    order.last_error = detail
    db.session.commit()
    return PaymentsUnavailable(order, error)


def open_checkout(
    client: stripe.StripeClient, prices: PriceDirectory, order: Order, site_url: str
) -> CheckoutStart:
    """Create a Checkout Session for a committed order; on failure keep the order.

    Each attempt has its own idempotency key: Stripe replays a stored failure for a
    reused key, so a retry after an outage must not reuse the failed attempt's key.
    Everything needed from the database is read first and the transaction ended, so no
    transaction stays open while Stripe is called.
    """
    order.checkout_attempts += 1
    selling = _selling_price(order)
    user = order.user
    known_customer = user.customer.stripe_customer_id if user.customer else None
    key = _key("checkout", order.id, order.created_at.isoformat(), order.checkout_attempts)
    db.session.commit()
    try:
        price_id = prices.resolve(client, selling)
        customer_id = ensure_customer(client, user, known_customer)
        session = client.v1.checkout.sessions.create(
            params=_session_params(order, price_id, customer_id, site_url),
            options={"idempotency_key": key},
        )
    except (stripe.StripeError, CatalogueNotSynced) as error:
        raise _unavailable(order, error) from error
    order.checkout_session_id = session.id
    order.stripe_customer_id = customer_id
    order.last_error = None
    db.session.commit()
    if not session.url:
        raise PaymentsUnavailable(order, RuntimeError(f"session {session.id} has no url"))
    return CheckoutStart(order=order, url=session.url)


def confirmation_url(order: Order, site_url: str) -> str:
    return f"{site_url}/orders/{order.id}/confirmation?session_id={order.checkout_session_id}"


def continue_checkout(
    client: stripe.StripeClient, prices: PriceDirectory, order: Order, site_url: str
) -> CheckoutStart:
    """Send the shopper on with an order without ever opening a second payment for it.

    An open session is reused. A completed one was paid while its webhook is still on
    the way: it is recorded now and the shopper sees the confirmation. Only an expired
    session (or none, after an outage) is replaced by a new one.
    """
    if order.status != OrderStatus.PENDING:
        return CheckoutStart(order, confirmation_url(order, site_url))
    if order.checkout_session_id is None:
        return open_checkout(client, prices, order, site_url)
    session_id = order.checkout_session_id
    db.session.commit()  # no transaction open across the Stripe call
    try:
        session = client.v1.checkout.sessions.retrieve(
            session_id, params={"expand": fulfilment.SESSION_EXPAND}
        )
    except stripe.StripeError as error:
        raise _unavailable(order, error) from error
    if session.status == "open" and session.url:
        return CheckoutStart(order, session.url)
    if session.status == "complete":
        fulfilment.fulfil_checkout_session(session)
        db.session.commit()
        return CheckoutStart(order, confirmation_url(order, site_url))
    return open_checkout(client, prices, order, site_url)


def available_stock(book: Book) -> int | None:
    """Copies of a printed book still for sale: stock less copies sold or held.

    Paid (even partly refunded or disputed) and clearing orders keep their copies;
    a pending order holds them for `STOCK_HOLD`, the life of its Checkout Session.
    Fully refunded, expired and failed orders give them back.
    """
    if book.stock is None:
        return None
    kept = [
        OrderStatus.PAID,
        OrderStatus.AWAITING_PAYMENT,
        OrderStatus.PARTIALLY_REFUNDED,
        OrderStatus.DISPUTED,
    ]
    holding = db.and_(Order.status == OrderStatus.PENDING, Order.created_at > utcnow() - STOCK_HOLD)
    taken = db.session.execute(
        db.select(db.func.coalesce(db.func.sum(OrderItem.quantity), 0))
        .join(Order)
        .where(OrderItem.item_key == book.key, Order.kind == "book")
        .where(db.or_(Order.status.in_(kept), holding))
    ).scalar_one()
    return max(book.stock - int(taken), 0)


def order_book(catalogue: Catalogue, user: User, book_key: str, quantity: int) -> Order:
    """A committed pending order for `quantity` copies of a book, priced by the catalogue."""
    book = catalogue.book(book_key)
    if book is None:
        raise CheckoutRefused("That book is not in our catalogue.")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise CheckoutRefused(f"Choose between 1 and {MAX_QUANTITY} copies.")
    stock = available_stock(book)
    if stock is not None and quantity > stock:
        raise CheckoutRefused(
            "Sorry, that book is sold out." if stock == 0 else f"Only {stock} copies are left."
        )
    order = Order(
        user=user,
        kind="book",
        currency=book.currency,
        amount_total=book.price * quantity,
        ships=book.format == "print",
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
        .where(Subscription.status.in_(["trialing", "active", "past_due"]))
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
    lookup_key = plan.lookup_key(interval)  # type: ignore[arg-type]
    pending: Order | None = db.session.execute(
        db.select(Order)
        .join(OrderItem)
        .where(Order.user_id == user.id, Order.kind == "membership")
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
        kind="membership",
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
