"""What a customer does in the hosted billing portal: cancel at period end, resume,
switch price and update the card. Each runs in one store transaction and emits
Stripe's events; ``engine`` re-exports them (the pages' contract).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.errors import invalid
from ..resources.objects import load, save_updated
from . import billing, payments
from .engine import CardDetails, PaymentOutcome, _card_behaviour, _declined, _make_card
from .subscriptions import update_subscription

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox


def _portal_update(
    sandbox: Sandbox, subscription_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Apply ``change(subscription)`` (the fields to set), reading and writing in one
    transaction so a concurrent change is never overwritten from a stale read."""
    with sandbox.store.transaction():
        before = load(sandbox, "subscription", subscription_id)
        if before["status"] in ("canceled", "incomplete_expired"):
            raise invalid("This subscription has ended.", param="subscription")
        after = copy.deepcopy(before)
        after.update(change(before))
        return save_updated(
            sandbox,
            before,
            after,
            "customer.subscription.updated",
            created=sandbox.clock.for_customer(before["customer"]),
        )


def portal_cancel_at_period_end(sandbox: Sandbox, subscription_id: str) -> dict[str, Any]:
    """Cancel at the end of the current period (the subscription stays active until then)."""
    return _portal_update(
        sandbox,
        subscription_id,
        lambda subscription: {
            "cancel_at_period_end": True,
            "cancel_at": billing.current_period(subscription)[1],
            "cancellation_details": dict(
                subscription["cancellation_details"], reason="cancellation_requested"
            ),
        },
    )


def portal_resume(sandbox: Sandbox, subscription_id: str) -> dict[str, Any]:
    """Undo a pending cancellation."""
    return _portal_update(
        sandbox,
        subscription_id,
        lambda subscription: {
            "cancel_at_period_end": False,
            "cancel_at": None,
            "cancellation_details": dict(subscription["cancellation_details"], reason=None),
        },
    )


def portal_switch_price(sandbox: Sandbox, subscription_id: str, price_id: str) -> dict[str, Any]:
    """Move the subscription to another price, prorating the rest of the period."""
    with sandbox.store.transaction():
        subscription = load(sandbox, "subscription", subscription_id)
        item = subscription["items"]["data"][0]
        return update_subscription(
            sandbox,
            subscription_id,
            {
                "items": [{"id": item["id"], "price": price_id}],
                "proration_behavior": "create_prorations",
            },
        )


def portal_update_card(sandbox: Sandbox, customer_id: str, details: CardDetails) -> PaymentOutcome:
    """Save a new card as the customer's default for invoices and subscriptions.

    Decline cards cannot be attached: the outcome is ``declined`` with Stripe's message.
    """
    with sandbox.store.transaction():
        customer = load(sandbox, "customer", customer_id)
        now = sandbox.clock.for_customer(customer_id)
        found = _card_behaviour(details, now)
        if found.now is not None:
            return _declined(found.now)
        pm = _make_card(
            sandbox,
            details,
            found,
            payments.billing_details(details.name, customer.get("email")),
            now,
        )
        payments.attach(sandbox, pm, customer_id, now)
        after = copy.deepcopy(customer)
        after["invoice_settings"] = dict(
            customer.get("invoice_settings") or {}, default_payment_method=pm["id"]
        )
        save_updated(sandbox, customer, after, "customer.updated", created=now)
        for subscription in sandbox.store.list("subscription", customer=customer_id):
            if subscription["status"] in billing.LIVE_STATUSES:
                updated = dict(subscription, default_payment_method=pm["id"])
                save_updated(
                    sandbox, subscription, updated, "customer.subscription.updated", created=now
                )
        return PaymentOutcome("succeeded")
