"""Every call Quire makes to Stripe, and what it asks Stripe to expand for each.

The rest of the shop asks this module, never the client: `sync_*` functions retrieve an
object (unless they are handed it, as a list call already fetched it) and record it
through `fulfilment` in one call, so the webhook, the confirmation page, resuming a
checkout, refunds and reconcile all read Stripe the same way. Nothing here commits:
the caller owns the transaction.

Stripe's own exceptions stop here: a failure becomes `StripeFailure`, which carries
Stripe's request id for the log (and never the key), so views and commands need not
know the SDK.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

import stripe
from stripe.params import CouponCreateParams, CustomerCreateParams, PriceListParams
from stripe.params.checkout import SessionCreateParams, SessionListParamsCreated

from shop import fulfilment, mirror
from shop.models import ORDER_ID_METADATA, USER_ID_METADATA, Invoice, Order, Subscription, User
from shop.stripe_client import field_of

#: What a Checkout Session retrieve carries so fulfilment needs no other call (the chosen
#: shipping rate, for its name).
SESSION_EXPAND = [
    "payment_intent",
    "subscription.discounts.source.coupon",
    "shipping_cost.shipping_rate",
]
SESSION_LIST_EXPAND = ["payment_intent", "subscription", "shipping_cost.shipping_rate"]
#: What a subscription retrieve carries: its discounts' coupons, for its amount.
SUBSCRIPTION_EXPAND = ["discounts.source.coupon"]
#: What a charge or dispute retrieve carries: the payment's own metadata names the order.
PAYMENT_EXPAND = ["payment_intent"]
#: A charge also carries its refunds (no longer included unless asked), for the ledger.
CHARGE_EXPAND = [*PAYMENT_EXPAND, "refunds"]
#: List calls page 100 objects at a time (Stripe's maximum), never one GET per object.
PAGE = 100


class StripeFailure(RuntimeError):
    """Stripe could not be reached or refused a request.

    `str()` is a log line with Stripe's request id; `user_message` is what Stripe says
    may be shown to people (None when it says nothing).
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        http_status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        user_message: str | None = None,
    ) -> None:
        super().__init__(
            f"{kind} status={http_status} code={code} request_id={request_id} message={message}"
        )
        self.kind = kind
        self.http_status = http_status
        self.code = code
        self.request_id = request_id
        self.user_message = user_message

    @classmethod
    def from_error(cls, error: stripe.StripeError) -> StripeFailure:
        return cls(
            type(error).__name__,
            error.user_message or str(error),
            http_status=error.http_status,
            code=error.code,
            request_id=error.request_id,
            user_message=error.user_message,
        )


@contextmanager
def _calling_stripe() -> Iterator[None]:
    """Turn the SDK's exceptions into `StripeFailure` for the code around the call."""
    try:
        yield
    except stripe.StripeError as error:
        raise StripeFailure.from_error(error) from error


def idempotency_key(*parts: object) -> str:
    """A stable idempotency key from the parts that make a request unique."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]
    return f"quire-{digest}"


# --- Checkout Sessions ---------------------------------------------------------------


def create_checkout_session(
    client: stripe.StripeClient, params: SessionCreateParams, key: str
) -> stripe.checkout.Session:
    """A new Checkout Session; `key` makes a repeated attempt return the same one."""
    with _calling_stripe():
        return client.v1.checkout.sessions.create(params=params, options={"idempotency_key": key})


def retrieve_checkout_session(
    client: stripe.StripeClient, session_id: str
) -> stripe.checkout.Session:
    """A Checkout Session as Stripe has it now, with what fulfilment reads expanded."""
    with _calling_stripe():
        return client.v1.checkout.sessions.retrieve(session_id, params={"expand": SESSION_EXPAND})


def expire_checkout_session(
    client: stripe.StripeClient, session_id: str
) -> stripe.checkout.Session:
    """Close an open Checkout Session, so nobody can pay it any more; the session after.

    Stripe refuses (`StripeFailure`) a session that is no longer open: it was paid or
    has expired meanwhile, which the caller finds out by retrieving it.
    """
    with _calling_stripe():
        return client.v1.checkout.sessions.expire(session_id, params={"expand": SESSION_EXPAND})


def sync_checkout_session(
    client: stripe.StripeClient,
    session_id: str,
    session: stripe.checkout.Session | None = None,
    *,
    seen: mirror.Versions | None = None,
    hint: Any = None,
) -> Order | None:
    """Record a Checkout Session on its order, never over a newer write (`shop.mirror`).

    Retrieved now, unless `session` is handed with the versions `seen` before it was
    fetched (`session_versions`). `hint`: the session as an event carried it.
    """
    return mirror.sync(
        lambda: retrieve_checkout_session(client, session_id),
        fulfilment.fulfil_checkout_session,
        fulfilment.session_keys,
        fulfilment.session_keys(hint if hint is not None else {"id": session_id}),
        fetched=session,
        seen=seen,
    )


def session_versions(session_id: str) -> mirror.Versions:
    """What a Checkout Session writes, read before it is fetched by some other call."""
    return mirror.read(fulfilment.session_keys({"id": session_id}))


def recent_checkout_sessions(
    client: stripe.StripeClient, since: datetime
) -> Iterator[stripe.checkout.Session]:
    """Every Checkout Session created since `since`, expanded as a retrieve would be."""
    created: SessionListParamsCreated = {"gte": int(since.timestamp())}
    # Stripe expands four levels at most: listed, a session's subscription comes without
    # its discounts' coupons (the subscription list that reconcile reads next has them).
    expand = [f"data.{field}" for field in SESSION_LIST_EXPAND]
    with _calling_stripe():
        listing = client.v1.checkout.sessions.list(
            params={"limit": PAGE, "created": created, "expand": expand}
        )
        yield from listing.auto_paging_iter()


# --- Prices, products and customers ----------------------------------------------------


def active_price(client: stripe.StripeClient, lookup_key: str) -> stripe.Price | None:
    """The active Price holding `lookup_key`, or None when Stripe has none."""
    with _calling_stripe():
        listing = client.v1.prices.list(
            params={"lookup_keys": [lookup_key], "active": True, "limit": 1}
        )
    return listing.data[0] if listing.data else None


def all_products(client: stripe.StripeClient) -> Iterator[stripe.Product]:
    """Every product in the account, active and archived."""
    with _calling_stripe():
        yield from client.v1.products.list(params={"limit": PAGE}).auto_paging_iter()


def all_prices(
    client: stripe.StripeClient, *, active: bool | None = None, with_product: bool = False
) -> Iterator[stripe.Price]:
    """Every price in the account, active and archived (or only the active, or only the
    archived ones); `with_product` expands each price's product in the same answer."""
    params: PriceListParams = {"limit": PAGE}
    if active is not None:
        params["active"] = active
    if with_product:
        params["expand"] = ["data.product"]
    with _calling_stripe():
        listing = client.v1.prices.list(params=params)
        yield from listing.auto_paging_iter()


def prices_by_lookup_key(
    client: stripe.StripeClient, lookup_keys: Iterable[str]
) -> Iterator[stripe.Price]:
    """The active prices holding these lookup keys (Stripe takes ten keys per list call)."""
    keys = sorted(set(lookup_keys))
    with _calling_stripe():
        for start in range(0, len(keys), 10):
            listing = client.v1.prices.list(
                params={"lookup_keys": keys[start : start + 10], "active": True, "limit": PAGE}
            )
            yield from listing.auto_paging_iter()


def save_product(
    client: stripe.StripeClient, product_id: str | None, params: Any, *, key: str | None = None
) -> None:
    """Create a product (`product_id` None; the id is in `params`) or update one; `key`,
    the idempotency key, makes a repeated create return the first one's answer."""
    options: Any = {"idempotency_key": key} if key else {}
    with _calling_stripe():
        if product_id is None:
            client.v1.products.create(params=params, options=options)
        else:
            client.v1.products.update(product_id, params=params, options=options)


def save_price(
    client: stripe.StripeClient, price_id: str | None, params: Any, *, key: str | None = None
) -> stripe.Price:
    """Create a price (`price_id` None) or update the fields Stripe lets change; the
    price as Stripe answers. `key` as for `save_product`."""
    options: Any = {"idempotency_key": key} if key else {}
    with _calling_stripe():
        if price_id is None:
            return client.v1.prices.create(params=params, options=options)
        return client.v1.prices.update(price_id, params=params, options=options)


def coupon(client: stripe.StripeClient, coupon_id: str) -> stripe.Coupon | None:
    """The coupon with this id, or None when Stripe has none (`resource_missing`; any
    other refusal, such as a server without coupons, is a `StripeFailure`)."""
    try:
        with _calling_stripe():
            return client.v1.coupons.retrieve(coupon_id)
    except StripeFailure as failure:
        if failure.http_status == 404 and failure.code == "resource_missing":
            return None
        raise


def create_coupon(client: stripe.StripeClient, params: CouponCreateParams) -> stripe.Coupon:
    """A new coupon (coupons never change: a different one gets a new id)."""
    with _calling_stripe():
        return client.v1.coupons.create(
            params=params, options={"idempotency_key": idempotency_key("coupon", params["id"])}
        )


def create_customer(client: stripe.StripeClient, user: User, *, on_test_clock: bool = False) -> str:
    """A Stripe customer for `user`; its id.

    The idempotency key is derived from the user, so two simultaneous first purchases
    get the same Stripe customer. `on_test_clock` (development, `STRIPE_TEST_CLOCKS`)
    first makes the customer a test clock of its own, frozen at now, so its memberships'
    trial ends and renewals can be run ahead from the dashboard.
    """
    key = idempotency_key("customer", user.id, user.email, user.created_at.isoformat())
    params: CustomerCreateParams = {
        "email": user.email,
        "metadata": {USER_ID_METADATA: str(user.id)},
    }
    with _calling_stripe():
        if on_test_clock:
            clock = client.v1.test_helpers.test_clocks.create(
                params={"frozen_time": int(time.time()), "name": user.email},
                options={"idempotency_key": f"{key}-clock"},
            )
            params["test_clock"] = clock.id
        customer = client.v1.customers.create(params=params, options={"idempotency_key": key})
    return customer.id


# --- Saved cards -----------------------------------------------------------------------


def customer_cards(client: stripe.StripeClient, customer_id: str) -> list[stripe.PaymentMethod]:
    """The cards saved on a customer, newest first: one list call (up to 100 cards)."""
    with _calling_stripe():
        listing = client.v1.customers.payment_methods.list(
            customer_id, params={"type": "card", "limit": PAGE}
        )
    return list(listing.data)


def detach_payment_method(client: stripe.StripeClient, payment_method_id: str) -> None:
    """Detach a saved payment method from its customer (it can no longer be used)."""
    with _calling_stripe():
        client.v1.payment_methods.detach(payment_method_id)


# --- Memberships -----------------------------------------------------------------------


def sync_subscription(
    client: stripe.StripeClient,
    subscription_id: str,
    sub: stripe.Subscription | None = None,
    *,
    seen: mirror.Versions | None = None,
) -> Subscription:
    """Record a subscription as Stripe has it now, never over a newer write.

    Retrieved now, unless `sub` is handed with the versions `seen` before it was fetched
    (`mirror.read([subscription_id])`).
    """

    def fetch() -> stripe.Subscription:
        with _calling_stripe():
            return client.v1.subscriptions.retrieve(
                subscription_id, params={"expand": SUBSCRIPTION_EXPAND}
            )

    return mirror.sync(
        fetch,
        fulfilment.record_subscription,
        lambda found: {found.id},
        {subscription_id},
        fetched=sub,
        seen=seen,
    )


def switch_subscription_price(
    client: stripe.StripeClient,
    subscription_id: str,
    price_id: str,
    metadata: dict[str, str],
    *,
    state: object = None,
) -> stripe.Subscription:
    """Move a subscription's (single) item to another price, prorated, and keep it going.

    Stripe credits the unused time of the old price and charges the new one from now,
    on the next invoice (`create_prorations`); a subscription set to cancel at period
    end is resumed. `metadata` is merged into the subscription's. The idempotency key
    names the item, the new price and `state` (the subscription's version as read), so
    a double-clicked confirmation switches once, while switching back and forth again
    is never answered with an old switch's replay.
    """
    with _calling_stripe():
        current = client.v1.subscriptions.retrieve(subscription_id)
        item_id = current.items.data[0].id
        return client.v1.subscriptions.update(
            subscription_id,
            params={
                "items": [{"id": item_id, "price": price_id}],
                "proration_behavior": "create_prorations",
                "cancel_at_period_end": False,
                "metadata": metadata,
                "expand": SUBSCRIPTION_EXPAND,
            },
            options={"idempotency_key": idempotency_key("switch", item_id, price_id, state)},
        )


def cancel_subscription_at_period_end(
    client: stripe.StripeClient, subscription_id: str, key: str
) -> stripe.Subscription:
    """Set a subscription to end when its paid period (or trial) ends; the member keeps it
    until then. `key` names the subscription's state as read, so the same request sent
    again (a retry after a lost answer) is made once, while a later request is not
    mistaken for it.
    """
    with _calling_stripe():
        return client.v1.subscriptions.update(
            subscription_id,
            params={"cancel_at_period_end": True},
            options={"idempotency_key": key},
        )


def cancel_subscription_now(
    client: stripe.StripeClient, subscription_id: str
) -> stripe.Subscription:
    """End a subscription at once (`DELETE /v1/subscriptions/{id}`).

    No proration credit for the unused time and no final invoice (`prorate`,
    `invoice_now`: false, Stripe's defaults, sent so the choice is visible): the member
    stops being charged and loses access now; money back is a refund, decided apart.
    """
    with _calling_stripe():
        return client.v1.subscriptions.cancel(
            subscription_id, params={"prorate": False, "invoice_now": False}
        )


def pay_invoice(client: stripe.StripeClient, invoice_id: str, key: str) -> stripe.Invoice:
    """Attempt an open invoice now with the customer's default payment method.

    `key` names the invoice and the attempt, so a retry of the same attempt is made
    once. :raise StripeFailure: a decline (`kind` CardError, Stripe's message as
    `user_message`), or any other refusal.
    """
    with _calling_stripe():
        return client.v1.invoices.pay(invoice_id, options={"idempotency_key": key})


def _retrieve_invoice(client: stripe.StripeClient, invoice_id: str) -> stripe.Invoice:
    with _calling_stripe():
        return client.v1.invoices.retrieve(invoice_id)


def sync_invoice(
    client: stripe.StripeClient,
    invoice_id: str,
    invoice: stripe.Invoice | None = None,
    *,
    seen: mirror.Versions | None = None,
    hint: Any = None,
) -> Invoice:
    """Record an invoice and its subscription's new status, never over a newer write.

    Both are retrieved, every read before any write. A handed `invoice` (a listed one,
    with the versions `seen` before the list call) is recorded alone: its subscription
    is the subscription list's to record.
    """
    if invoice is not None:
        return mirror.sync(
            lambda: _retrieve_invoice(client, invoice_id),
            fulfilment.record_invoice,
            lambda found: fulfilment.invoice_keys(found, with_subscription=False),
            {invoice_id},
            fetched=invoice,
            seen=seen,
        )

    def fetch() -> tuple[stripe.Invoice, stripe.Subscription | None]:
        found = _retrieve_invoice(client, invoice_id)
        subscription_id = fulfilment.invoice_subscription_id(found)
        with _calling_stripe():
            sub = (
                client.v1.subscriptions.retrieve(
                    subscription_id, params={"expand": SUBSCRIPTION_EXPAND}
                )
                if subscription_id
                else None
            )
        return found, sub

    def record(fetched: tuple[stripe.Invoice, stripe.Subscription | None]) -> Invoice:
        found, sub = fetched
        row = fulfilment.record_invoice(found)
        if sub is not None:
            fulfilment.record_subscription(sub)
        return row

    return mirror.sync(
        fetch,
        record,
        lambda fetched: fulfilment.invoice_keys(fetched[0]),
        fulfilment.invoice_keys(hint if hint is not None else {"id": invoice_id}),
    )


def recent_invoices(client: stripe.StripeClient, since: datetime) -> Iterator[stripe.Invoice]:
    """Every invoice created since `since`, whatever its status (100 a page)."""
    created: Any = {"gte": int(since.timestamp())}
    with _calling_stripe():
        listing = client.v1.invoices.list(params={"limit": PAGE, "created": created})
        yield from listing.auto_paging_iter()


def all_subscriptions(client: stripe.StripeClient) -> Iterator[stripe.Subscription]:
    """Every subscription in the account, whatever its status."""
    with _calling_stripe():
        expand = [f"data.{field}" for field in SUBSCRIPTION_EXPAND]
        listing = client.v1.subscriptions.list(
            params={"limit": PAGE, "status": "all", "expand": expand}
        )
        yield from listing.auto_paging_iter()


# --- Billing portal --------------------------------------------------------------------


def billing_portal_url(client: stripe.StripeClient, customer: str, return_url: str) -> str:
    """A one-time link to Stripe's billing portal for `customer`, coming back to `return_url`."""
    with _calling_stripe():
        portal = client.v1.billing_portal.sessions.create(
            params={"customer": customer, "return_url": return_url}
        )
    return portal.url


#: A portal configuration read back with the plan-switch products it allows.
PORTAL_EXPAND = ["data.features.subscription_update.products"]


def default_portal_configuration(
    client: stripe.StripeClient,
) -> stripe.billing_portal.Configuration | None:
    """The account's active default billing-portal configuration, if it has one."""
    with _calling_stripe():
        found = client.v1.billing_portal.configurations.list(
            params={"is_default": True, "active": True, "expand": PORTAL_EXPAND}
        ).data
    return found[0] if found else None


def save_portal_configuration(
    client: stripe.StripeClient, configuration_id: str | None, features: Any
) -> None:
    """Create the portal configuration (`configuration_id` None) or update its features."""
    params: Any = {"features": features}
    with _calling_stripe():
        if configuration_id is None:
            client.v1.billing_portal.configurations.create(params=params)
        else:
            client.v1.billing_portal.configurations.update(configuration_id, params=params)


# --- Charges, refunds and disputes -----------------------------------------------------


def _retrieve_charge(client: stripe.StripeClient, charge_id: str) -> stripe.Charge:
    with _calling_stripe():
        return client.v1.charges.retrieve(charge_id, params={"expand": CHARGE_EXPAND})


def sync_charge(
    client: stripe.StripeClient,
    charge_id: str,
    charge: stripe.Charge | None = None,
    *,
    seen: mirror.Versions | None = None,
    hint: Any = None,
) -> Order | None:
    """Record a charge's refunds on its order, never over a newer write.

    Retrieved now, unless `charge` is handed with the versions `seen` before it was
    fetched. `hint`: the charge as an event carried it (its PaymentIntent names the order).
    """
    return mirror.sync(
        lambda: _retrieve_charge(client, charge_id),
        fulfilment.record_charge,
        lambda found: fulfilment.payment_keys(found.payment_intent),
        fulfilment.payment_keys(field_of(hint, "payment_intent")),
        fetched=charge,
        seen=seen,
    )


def recent_charges(client: stripe.StripeClient, since: datetime) -> Iterator[stripe.Charge]:
    """Every charge created since `since`, expanded as a retrieve would be."""
    created: Any = {"gte": int(since.timestamp())}
    expand = [f"data.{field}" for field in CHARGE_EXPAND]
    with _calling_stripe():
        listing = client.v1.charges.list(
            params={"limit": PAGE, "created": created, "expand": expand}
        )
        yield from listing.auto_paging_iter()


def sync_dispute(client: stripe.StripeClient, dispute_id: str, *, hint: Any = None) -> Order | None:
    """Mark the order whose payment a dispute contests, as Stripe has the dispute now."""

    def fetch() -> stripe.Dispute:
        with _calling_stripe():
            return client.v1.disputes.retrieve(dispute_id, params={"expand": PAYMENT_EXPAND})

    return mirror.sync(
        fetch,
        fulfilment.record_dispute,
        lambda found: fulfilment.payment_keys(found.payment_intent),
        fulfilment.payment_keys(field_of(hint, "payment_intent")),
    )


# --- Events ---------------------------------------------------------------------------


def retrieve_event(client: stripe.StripeClient, event_id: str) -> tuple[dict[str, Any], str]:
    """An event as Stripe keeps it (30 days): the plain dict a webhook body decodes to, and
    the body as Stripe sent it.

    Replays read this, never the body Quire stored: what is replayed is what Stripe says.
    """
    with _calling_stripe():
        found = client.v1.events.retrieve(event_id)
    answer = found.last_response
    raw = answer.body if answer is not None else json.dumps(found.to_dict(), default=str)
    event: dict[str, Any] = json.loads(raw)
    return event, raw


class RefundKeyReused(StripeFailure):
    """Stripe refused a refund's idempotency key: used before with other parameters
    (400 `idempotency_error`), or in use by a request still running (409)."""


def refund_payment(
    client: stripe.StripeClient,
    order_id: int,
    payment_intent_id: str,
    amount: int,
    form_nonce: str,
) -> stripe.Refund:
    """Refund `amount` of an order's payment, once per refund form.

    The idempotency key names the order and the refund form's one-time nonce (made when
    the admin page was loaded), never anything that the refund itself changes: the same
    form sent twice gets the first refund back from Stripe, not a second one.
    :raise RefundKeyReused: Stripe refused the key. :raise StripeFailure: otherwise.
    """
    try:
        with _calling_stripe():
            return client.v1.refunds.create(
                params={
                    "payment_intent": payment_intent_id,
                    "amount": amount,
                    "metadata": {ORDER_ID_METADATA: str(order_id)},
                },
                options={"idempotency_key": f"quire-refund-{order_id}-{form_nonce}"},
            )
    except StripeFailure as failure:
        error = failure.__cause__
        if isinstance(error, stripe.IdempotencyError) or (
            isinstance(error, stripe.StripeError)
            and error.http_status == 409
            and (error.error is not None and error.error.type == "idempotency_error")
        ):
            raise RefundKeyReused.from_error(error) from error
        raise


# --- Webhook endpoints -----------------------------------------------------------------


def webhook_endpoints(client: stripe.StripeClient) -> Iterator[stripe.WebhookEndpoint]:
    """Every webhook endpoint of the account."""
    with _calling_stripe():
        yield from client.v1.webhook_endpoints.list(params={"limit": PAGE}).auto_paging_iter()


def create_webhook_endpoint(
    client: stripe.StripeClient, url: str, events: Any
) -> stripe.WebhookEndpoint:
    """An endpoint for `events` at the SDK's pinned API version (its secret shown once)."""
    with _calling_stripe():
        return client.v1.webhook_endpoints.create(
            params={
                "url": url,
                "enabled_events": events,
                "api_version": cast(Any, stripe.api_version),
                "description": "Quire shop",
            }
        )


def enable_webhook_endpoint(client: stripe.StripeClient, endpoint_id: str, events: Any) -> None:
    """Subscribe an existing endpoint to exactly `events`, and turn it back on."""
    with _calling_stripe():
        client.v1.webhook_endpoints.update(
            endpoint_id, params={"enabled_events": events, "disabled": False}
        )


def delete_webhook_endpoint(client: stripe.StripeClient, endpoint_id: str) -> None:
    with _calling_stripe():
        client.v1.webhook_endpoints.delete(endpoint_id)
