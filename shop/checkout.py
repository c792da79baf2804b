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
from typing import Any

import stripe
from sqlalchemy.exc import IntegrityError
from stripe.params.checkout import SessionCreateParams, SessionCreateParamsSubscriptionData

from shop.catalogue import Book, Catalogue, Plan, SellingPrice
from shop.extensions import db
from shop.models import Customer, Order, OrderItem, OrderStatus, Subscription, User
from shop.stripe_client import describe_error

log = logging.getLogger(__name__)

MAX_QUANTITY = 10
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


def ensure_customer(client: stripe.StripeClient, user: User) -> str:
    """The user's Stripe customer id, creating the customer once.

    The idempotency key is derived from the user, so two simultaneous first purchases
    get the same Stripe customer; the unique constraint keeps one local row.
    """
    if user.customer is not None:
        return user.customer.stripe_customer_id
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
    db.session.refresh(user)
    return user.customer.stripe_customer_id if user.customer else customer.id


@dataclass(frozen=True)
class CheckoutStart:
    """Where to send the shopper: Stripe's page for this order."""

    order: Order
    url: str


def _session_params(
    client: stripe.StripeClient, prices: PriceDirectory, order: Order, site_url: str
) -> SessionCreateParams:
    """Checkout Session parameters for an order, every amount from its catalogue lines.

    Typed with the SDK's own `SessionCreateParams`, so mypy checks every field we send.
    """
    item = order.items[0]
    interval = item.lookup_key.split(":")[2] if order.kind == "membership" else None
    selling = SellingPrice(item.lookup_key, item.unit_amount, order.currency, interval)  # type: ignore[arg-type]
    metadata = {"order_id": str(order.id), "user_id": str(order.user_id)}
    params: SessionCreateParams = {
        "line_items": [{"price": prices.resolve(client, selling), "quantity": item.quantity}],
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
        params["payment_intent_data"] = {"metadata": {"order_id": str(order.id)}}
        if order.ships:
            params["shipping_address_collection"] = {"allowed_countries": SHIPPING_COUNTRIES}
    return params


def open_checkout(
    client: stripe.StripeClient, prices: PriceDirectory, order: Order, site_url: str
) -> CheckoutStart:
    """Create the Checkout Session for a committed order; on failure keep the order.

    Each attempt has its own idempotency key: Stripe replays a stored failure for a
    reused key, so a retry after an outage must not reuse the failed attempt's key.
    """
    order.checkout_attempts += 1
    db.session.commit()
    try:
        params = _session_params(client, prices, order, site_url)
        params["customer"] = ensure_customer(client, order.user)
        session = client.v1.checkout.sessions.create(
            params=params,
            options={
                "idempotency_key": _key(
                    "checkout", order.id, order.created_at.isoformat(), order.checkout_attempts
                )
            },
        )
    except (stripe.StripeError, CatalogueNotSynced) as error:
        detail = describe_error(error) if isinstance(error, stripe.StripeError) else str(error)
        log.error("checkout for %s failed: %s", order.reference, detail)
        order.last_error = detail
        db.session.commit()
        raise PaymentsUnavailable(order, error) from error
    order.checkout_session_id = session.id
    order.stripe_customer_id = params["customer"]
    order.last_error = None
    db.session.commit()
    if not session.url:
        raise PaymentsUnavailable(order, RuntimeError(f"session {session.id} has no url"))
    return CheckoutStart(order=order, url=session.url)


def available_stock(book: Book) -> int | None:
    """Copies left of a printed book: catalogue stock less copies already paid for."""
    if book.stock is None:
        return None
    sold = db.session.execute(
        db.select(db.func.coalesce(db.func.sum(OrderItem.quantity), 0))
        .join(Order)
        .where(OrderItem.item_key == book.key, Order.kind == "book")
        .where(Order.status.in_([OrderStatus.PAID, OrderStatus.AWAITING_PAYMENT]))
    ).scalar_one()
    return max(book.stock - int(sold), 0)


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
    """A committed pending order for a membership billed every `interval`."""
    plan = catalogue.plan(plan_key)
    if plan is None:
        raise CheckoutRefused("That membership is not offered.")
    amount = plan.price_for(interval)
    if amount is None:
        raise CheckoutRefused(f"{plan.name} is not sold by the {interval}.")
    if live_membership(user, plan) is not None:
        raise CheckoutRefused(f"You are already a {plan.name} member.")
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
            lookup_key=plan.lookup_key(interval),  # type: ignore[arg-type]
            description=f"{plan.name} membership, billed every {interval}",
            unit_amount=amount,
            quantity=1,
        )
    )
    db.session.add(order)
    db.session.commit()
    return order


def resume_checkout(client: stripe.StripeClient, order: Order) -> str | None:
    """The URL of the order's Checkout page while it is still open, else None."""
    if order.checkout_session_id is None or order.status != OrderStatus.PENDING:
        return None
    session = client.v1.checkout.sessions.retrieve(order.checkout_session_id)
    return session.url if session.status == "open" else None
