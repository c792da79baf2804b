"""Checkout Sessions for pending orders: their parameters, and opening, resuming and
confirming them without ever opening a second payment for one order.

The return URLs come from the views (`ReturnUrls`), which own the routes; nothing here
builds a URL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import stripe
from stripe.params.checkout import SessionCreateParams, SessionCreateParamsSubscriptionData

from shop import saved_cards, stripe_api
from shop.catalogue import PLAN_METADATA, LookupKey, ProductKind, SellingPrice
from shop.checkout.customers import ensure_customer
from shop.checkout.discounts import apply_member_discount
from shop.checkout.prices import CatalogueNotSynced, PriceDirectory
from shop.checkout.stock import STOCK_HOLD
from shop.extensions import db
from shop.models import ORDER_ID_METADATA, USER_ID_METADATA, Order, OrderStatus
from shop.shipping import checkout_shipping
from shop.stripe_api import StripeFailure

log = logging.getLogger(__name__)

#: Stripe replaces this literal in a success URL with the session's id.
SESSION_ID_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"


class PaymentsUnavailable(RuntimeError):
    """Stripe could not be reached or refused us; the order is kept for a retry."""

    def __init__(self, order: Order, error: Exception) -> None:
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


def _selling_price(order: Order) -> SellingPrice:
    """The catalogue price the order was made at (lookup key, amount, interval)."""
    item = order.items[0]
    lookup_key = LookupKey(item.lookup_key)
    return SellingPrice(lookup_key, item.unit_amount, order.currency, lookup_key.interval)


def session_params(
    order: Order, price_id: str, customer_id: str, urls: ReturnUrls
) -> SessionCreateParams:
    """Checkout Session parameters for an order, every amount from its catalogue lines.

    Typed with the SDK's own `SessionCreateParams`, so mypy checks every field we send.
    """
    item = order.items[0]
    metadata = {ORDER_ID_METADATA: str(order.id), USER_ID_METADATA: str(order.user_id)}
    params: SessionCreateParams = {
        "customer": customer_id,
        "line_items": [{"price": price_id, "quantity": item.quantity}],
        "success_url": urls.success,
        "cancel_url": urls.cancel,
        "client_reference_id": order.reference,
        "metadata": metadata,
        "allow_promotion_codes": True,
    }
    apply_member_discount(params, order)
    params.update(saved_cards.checkout_options(customer_id))
    if order.product_kind is ProductKind.MEMBERSHIP:
        subscription_data: SessionCreateParamsSubscriptionData = {
            "metadata": {**metadata, PLAN_METADATA: item.item_key}
        }
        if order.trial_days:
            subscription_data["trial_period_days"] = order.trial_days
        params["mode"] = "subscription"
        params["subscription_data"] = subscription_data
    else:
        params["mode"] = "payment"
        params["payment_intent_data"] = {"metadata": metadata}
        params.update(checkout_shipping(order))
        if order.holds_stock:
            # The session must not outlive the copies it holds (see STOCK_HOLD).
            params["expires_at"] = int((order.created_at + STOCK_HOLD).timestamp()) + 60
    return params


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
    selling = _selling_price(order)
    user = order.user
    known_customer = user.customer.stripe_customer_id if user.customer else None
    key = stripe_api.idempotency_key(
        "checkout", order.id, order.created_at.isoformat(), order.checkout_attempts
    )
    db.session.commit()
    try:
        price_id = prices.resolve(client, selling)
        customer_id = ensure_customer(client, user, known_customer)
        session = stripe_api.create_checkout_session(
            client, session_params(order, price_id, customer_id, urls), key
        )
    except (StripeFailure, CatalogueNotSynced) as error:
        order.checkout_attempts += 1
        raise _unavailable(order, error) from error
    order.checkout_attempts += 1
    order.checkout_session_id = session.id
    order.stripe_customer_id = customer_id
    order.last_error = None
    db.session.commit()
    if not session.url:
        raise PaymentsUnavailable(order, RuntimeError(f"session {session.id} has no url"))
    return CheckoutStart(order=order, url=session.url)


def _session_now(
    client: stripe.StripeClient,
    session_id: str,
    record_if: Callable[[stripe.checkout.Session], bool],
) -> stripe.checkout.Session:
    """The Checkout Session as Stripe has it now; recorded on its order, and committed,
    when `record_if(session)` holds. :raise StripeFailure: when Stripe cannot be asked.
    """
    db.session.commit()  # no transaction open across the Stripe call
    session = stripe_api.retrieve_checkout_session(client, session_id)
    if record_if(session):
        stripe_api.sync_checkout_session(client, session.id, session)
        db.session.commit()
    return session


def continue_checkout(
    client: stripe.StripeClient, prices: PriceDirectory, order: Order, urls: ReturnUrls
) -> CheckoutStart:
    """Send the shopper on with an order without ever opening a second payment for it.

    An open session is reused. A completed one was paid while its webhook is still on
    the way: it is recorded now and the shopper sees the confirmation. Only an expired
    session (or none, after an outage) is replaced by a new one.
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
