"""Checkout Sessions for pending orders: their parameters, and opening, resuming and
confirming them without ever opening a second payment for one order.

The return URLs come from the views (`ReturnUrls`), which own the routes; nothing here
builds a URL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import stripe
from sqlalchemy.exc import IntegrityError
from stripe.params.checkout import SessionCreateParams, SessionCreateParamsSubscriptionData

from shop import fulfilment, saved_cards, stripe_api
from shop.catalogue import PLAN_METADATA, Catalogue, LookupKey, ProductKind, SellingPrice
from shop.checkout import cart, stock
from shop.checkout.customers import ensure_customer
from shop.checkout.discounts import apply_member_discount
from shop.checkout.prices import CatalogueNotSynced, PriceDirectory
from shop.extensions import db
from shop.models import (
    ORDER_ID_METADATA,
    USER_ID_METADATA,
    WAS_PAID,
    Order,
    OrderStatus,
    User,
    utcnow,
)
from shop.shipping import checkout_shipping
from shop.stripe_api import StripeFailure

log = logging.getLogger(__name__)

#: Stripe replaces this literal in a success URL with the session's id.
SESSION_ID_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
#: How long a new Checkout Session for books (and the copies its order holds) lasts:
#: Stripe's shortest expiry is 30 minutes from the session's creation, plus a minute.
SESSION_LIFETIME = timedelta(minutes=31)


class PaymentsUnavailable(RuntimeError):
    """Stripe could not be reached or refused us; the order is kept for a retry."""

    def __init__(self, order: Order, error: Exception) -> None:
        super().__init__(str(error))
        self.order = order


class PriceChanged(RuntimeError):
    """A pending order's prices are no longer the catalogue's (a sync changed them since
    it was made): it cannot be paid as it stands, so it was cancelled and its copies
    went back; the shopper starts again at the new price."""

    def __init__(self, order: Order, error: CatalogueNotSynced) -> None:
        super().__init__(str(error))
        self.order = order


@dataclass(frozen=True)
class ReturnUrls:
    """Where Stripe sends the shopper back to, for one order (built by the views)."""

    #: The confirmation page; its `session_id` is `SESSION_ID_PLACEHOLDER`, for Stripe.
    success: str
    #: The page for a shopper who left Stripe's page without paying.
    cancel: str

    def confirmation(self, session_id: str) -> str:
        """The confirmation page for a session whose id is already known."""
        return self.success.replace(SESSION_ID_PLACEHOLDER, session_id)


@dataclass(frozen=True)
class CheckoutStart:
    """Where to send the shopper next: Stripe's page, or the order's confirmation."""

    order: Order
    url: str


def _selling_prices(order: Order) -> list[SellingPrice]:
    """The catalogue prices the order was made at (lookup key, amount, interval), a line each."""
    prices = []
    for item in order.items:
        lookup_key = LookupKey(item.lookup_key)
        prices.append(
            SellingPrice(lookup_key, item.unit_amount, order.currency, lookup_key.interval)
        )
    return prices


def session_params(
    order: Order, price_ids: Mapping[str, str], customer_id: str, urls: ReturnUrls
) -> SessionCreateParams:
    """Checkout Session parameters for an order, every amount from its catalogue lines.

    The base is built from the order's lines (`price_ids`: Price id by lookup key); then
    one small function per concern adds its part. Typed with the SDK's own
    `SessionCreateParams`, so mypy checks every field we send.
    """
    metadata = {ORDER_ID_METADATA: str(order.id), USER_ID_METADATA: str(order.user_id)}
    params: SessionCreateParams = {
        "customer": customer_id,
        "line_items": [
            {"price": price_ids[item.lookup_key], "quantity": item.quantity} for item in order.items
        ],
        "success_url": urls.success,
        "cancel_url": urls.cancel,
        "client_reference_id": order.reference,
        "metadata": metadata,
        "allow_promotion_codes": True,
    }
    apply_member_discount(params, order)
    params.update(saved_cards.checkout_options(customer_id))
    if order.product_kind is ProductKind.MEMBERSHIP:
        _add_membership(params, order, metadata)
    else:
        _add_payment(params, order, metadata)
    return params


def _add_membership(params: SessionCreateParams, order: Order, metadata: dict[str, str]) -> None:
    """Subscription mode, with the plan and the catalogue's trial."""
    subscription_data: SessionCreateParamsSubscriptionData = {
        "metadata": {**metadata, PLAN_METADATA: order.items[0].item_key}
    }
    if order.trial_days:
        subscription_data["trial_period_days"] = order.trial_days
    params["mode"] = "subscription"
    params["subscription_data"] = subscription_data


def _add_payment(params: SessionCreateParams, order: Order, metadata: dict[str, str]) -> None:
    """Payment mode for books: the destination's postage, and the end of the hold."""
    params["mode"] = "payment"
    params["payment_intent_data"] = {"metadata": metadata}
    params.update(checkout_shipping(order))
    _add_expiry(params, order)


def _add_expiry(params: SessionCreateParams, order: Order) -> None:
    """The session ends when the order's hold does (`order.expires_at`, set from now)."""
    if order.expires_at is not None:
        params["expires_at"] = int(order.expires_at.timestamp())


def _unavailable(order: Order, error: Exception) -> PaymentsUnavailable:
    """Log a Stripe failure with its request id, note it on the order, keep the order."""
    log.error("checkout for %s failed: %s", order.reference, error)
    order.last_error = str(error)
    db.session.commit()
    return PaymentsUnavailable(order, error)


def open_checkout(
    client: stripe.StripeClient, prices: PriceDirectory, order: Order, urls: ReturnUrls
) -> CheckoutStart:
    """Create a Checkout Session for a committed order; on failure keep the order.

    `checkout_attempts` counts the attempts that ended (in a session or a failure), and
    the idempotency key names it: presses that race to open the order's first session
    share one key, so Stripe makes one session and replays it to the others; a retry
    after an outage, or a replacement for an expired session, gets a key of its own
    (Stripe replays a stored failure, or an expired session, for a reused key).
    Everything needed from the database is read first and the transaction ended, so no
    transaction stays open while Stripe is called.
    """
    if order.product_kind is ProductKind.BOOK:
        # Every new session for books lives SESSION_LIFETIME from now (Stripe's minimum
        # is 30 minutes), whatever the order's age; its copies stay held until then. A
        # membership's session keeps Stripe's default, so racing presses send the same
        # parameters under their shared idempotency key.
        order.expires_at = (utcnow() + SESSION_LIFETIME).replace(microsecond=0)
    selling = _selling_prices(order)
    user = order.user
    known_customer = user.customer.stripe_customer_id if user.customer else None
    key = stripe_api.idempotency_key(
        "checkout", order.id, order.created_at.isoformat(), order.checkout_attempts
    )
    db.session.commit()
    try:
        price_ids = prices.resolve_many(client, selling)
        customer_id = ensure_customer(client, user, known_customer)
        session = stripe_api.create_checkout_session(
            client, session_params(order, price_ids, customer_id, urls), key
        )
    except StripeFailure as error:
        order.checkout_attempts += 1
        raise _unavailable(order, error) from error
    except CatalogueNotSynced as error:
        order.checkout_attempts += 1
        db.session.commit()
        status = _cancel_at_old_price(client, order, error)
        if status in WAS_PAID:  # paid on its old page meanwhile
            return CheckoutStart(order, urls.confirmation(order.checkout_session_id or ""))
        raise PriceChanged(order, error) from error
    order.checkout_attempts += 1
    order.checkout_session_id = session.id
    order.stripe_customer_id = customer_id
    order.last_error = None
    db.session.commit()
    if not session.url:
        raise PaymentsUnavailable(order, RuntimeError(f"session {session.id} has no url"))
    return CheckoutStart(order=order, url=session.url)


def _cancel_at_old_price(
    client: stripe.StripeClient, order: Order, error: CatalogueNotSynced
) -> OrderStatus:
    """Cancel an order made at prices Stripe no longer sells at (its copies go back)
    rather than keep it holding stock for a payment page that cannot be opened; its
    status afterwards. :raise PaymentsUnavailable: Stripe could not confirm the order's
    old page is closed, so the order is kept.
    """
    log.warning("%s was made at an old price (%s); cancelling it", order.reference, error)
    try:
        return cancel_order(client, order)
    except StripeFailure as failure:
        raise _unavailable(order, failure) from failure


def _session_now(
    client: stripe.StripeClient,
    session_id: str,
    record_if: Callable[[stripe.checkout.Session], bool],
) -> stripe.checkout.Session:
    """The Checkout Session as Stripe has it now; recorded on its order, and committed,
    when `record_if(session)` holds. :raise StripeFailure: when Stripe cannot be asked.
    """
    db.session.commit()  # no transaction open across the Stripe call
    seen = stripe_api.session_versions(session_id)  # before the retrieve: see shop.mirror
    session = stripe_api.retrieve_checkout_session(client, session_id)
    if record_if(session):
        stripe_api.sync_checkout_session(client, session.id, session, seen=seen)
        db.session.commit()
    return session


def continue_checkout(
    client: stripe.StripeClient, prices: PriceDirectory, order: Order, urls: ReturnUrls
) -> CheckoutStart:
    """Send the shopper on with an order without ever opening a second payment for it.

    An open session is reused. A completed one was paid while its webhook is still on
    the way: it is recorded now and the shopper sees the confirmation. Only an expired
    session (or none, after an outage) is replaced by a new one.
    :raise PriceChanged: the order's prices are no longer Stripe's; it was cancelled.
    :raise PaymentsUnavailable: Stripe failed; the order is kept.
    """
    if order.status != OrderStatus.PENDING:
        return CheckoutStart(order, urls.confirmation(order.checkout_session_id or ""))
    if order.checkout_session_id is None:
        return open_checkout(client, prices, order, urls)
    try:
        session = _session_now(
            client, order.checkout_session_id, lambda found: found.status == "complete"
        )
    except StripeFailure as error:
        raise _unavailable(order, error) from error
    if session.status == "open" and session.url:
        return CheckoutStart(order, session.url)
    if session.status == "complete":
        return CheckoutStart(order, urls.confirmation(session.id))
    return open_checkout(client, prices, order, urls)


def confirm_checkout(
    client: stripe.StripeClient, order: Order, session_id: str
) -> stripe.checkout.Session:
    """Record what Stripe says of the order's session now; the session, for the page.

    Run when Stripe sends the shopper back, so the page tells the truth even when the
    redirect beats the webhook. :raise StripeFailure: when Stripe cannot be asked.
    """
    return _session_now(
        client, session_id, lambda found: found.client_reference_id == order.reference
    )


# --- ending an order, and checking out the basket ----------------------------------------

#: How long a second Checkout click waits for the first one's Stripe page.
OPENING_WAIT_SECONDS = 10.0


def _locked(order: Order) -> Order:
    locked: Order = db.session.execute(
        db.select(Order)
        .filter_by(id=order.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    return locked


def cancel_order(client: stripe.StripeClient, order: Order) -> OrderStatus:
    """Cancel a pending order (books or a membership sign-up): it shows Cancelled, its
    Checkout Session is expired at Stripe so it can no longer be paid, and then its
    copies go back. Returns the order's status afterwards: when Stripe says the session
    was already complete, the payment is recorded instead (paid ranks above cancelled).

    The order is cancelled before Stripe is asked, so the `checkout.session.expired`
    event the expiry sends always finds it cancelled (and changes nothing); its copies
    stay held until Stripe has said the page can no longer be paid, so a page left open
    never sells copies given to someone else.
    :raise StripeFailure: when Stripe cannot expire the page; the order is pending again,
    its copies still held, and its page lapses at its `expires_at`.
    """
    order = _locked(order)
    if order.status != OrderStatus.PENDING:
        db.session.commit()
        return OrderStatus(order.status)
    session_id = order.checkout_session_id
    kept = (order.open_cart_user_id, order.cart_state)
    order.advance(OrderStatus.CANCELLED)
    if session_id is None:  # no payment page was ever opened
        fulfilment.settle_order(order)
    db.session.commit()  # no transaction open across the Stripe call
    if session_id is None:
        return OrderStatus.CANCELLED
    try:
        try:
            stripe_api.expire_checkout_session(client, session_id)
        except StripeFailure:
            session = _session_now(client, session_id, lambda found: found.status == "complete")
            if session.status == "open":
                raise
    except StripeFailure:
        _reopen(order, kept)
        raise
    order = _locked(order)
    fulfilment.settle_order(order)  # cancelled: the copies go back; paid: they are sold
    status = OrderStatus(order.status)
    db.session.commit()
    return status


def _reopen(order: Order, kept: tuple[int | None, str | None]) -> None:
    """Make an order whose cancelling failed at Stripe pending again, still holding its
    copies (its page may yet be paid), and its basket's open order again if no other
    has taken that place meanwhile."""
    order = _locked(order)
    if order.status != OrderStatus.CANCELLED:  # paid meanwhile: recorded as such
        db.session.commit()
        return
    order.status = OrderStatus.PENDING
    order.open_cart_user_id, order.cart_state = kept
    try:
        db.session.commit()
    except IntegrityError:  # a new order from the basket took its place
        db.session.rollback()
        order = _locked(order)
        order.status = OrderStatus.PENDING
        db.session.commit()


def _wait_while_opening(order: Order) -> None:
    """Wait (briefly) while another request is opening this order's Stripe page, so a
    double-clicked Checkout is sent to the same page instead of a second one."""
    recently = utcnow() - timedelta(seconds=30)
    deadline = time.monotonic() + OPENING_WAIT_SECONDS
    while (
        order.status == OrderStatus.PENDING
        and order.checkout_session_id is None
        and order.last_error is None
        and order.updated_at > recently
        and time.monotonic() < deadline
    ):
        db.session.commit()
        time.sleep(0.1)
        db.session.refresh(order)


def checkout_basket(
    client: stripe.StripeClient,
    prices: PriceDirectory,
    catalogue: Catalogue,
    user: User,
    urls_for: Callable[[Order], ReturnUrls],
    *,
    max_held: int,
    ship_to: str | None = None,
) -> CheckoutStart:
    """Check out the user's basket: one pending order with a line per book, one session;
    printed books go to `ship_to` (a country code), whose postage the session offers.

    An open order made from the same basket is reused (a double click, a second tab,
    a return from Stripe's page), so one basket never has two payment pages; after the
    basket or the destination changed, the old order is cancelled first.
    The books' Stripe prices are checked before anything is made or cancelled; an open
    order at other prices than the catalogue's is replaced like a changed basket.
    :raise CheckoutRefused: empty basket, an owned ebook, copies not left.
    :raise CatalogueNotSynced: a price is being updated; nothing was made or cancelled.
    :raise PaymentsUnavailable: when Stripe fails (the order is kept).
    """
    lines = cart.checkout_lines(catalogue, user)
    selling: dict[str, SellingPrice] = {
        str(price.lookup_key): price
        for key in lines
        if (book := catalogue.book(key)) is not None
        for price in book.selling_prices
    }
    prices.check(client, list(selling.values()))
    if stock.expire_lapsed():
        db.session.commit()
    order = cart.open_cart_order(user)
    destination = (ship_to or "").upper() or None
    if order is not None and (
        not cart.matches(order, lines)
        or (order.ships and order.ship_to_country != destination)
        or any(
            item.lookup_key not in selling or item.unit_amount != selling[item.lookup_key].amount
            for item in order.items
        )
    ):
        try:
            status = cancel_order(client, order)
        except StripeFailure as error:
            raise _unavailable(order, error) from error
        if status in WAS_PAID:  # paid while the shopper was changing the basket
            return CheckoutStart(
                order, urls_for(order).confirmation(order.checkout_session_id or "")
            )
        order = None
    if order is None:
        order, made = cart.checkout_order(
            catalogue, user, lines, max_held=max_held, ship_to=destination
        )
        if not made:
            _wait_while_opening(order)
    else:
        _wait_while_opening(order)
    return continue_checkout(client, prices, order, urls_for(order))
