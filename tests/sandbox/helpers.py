"""Shared steps for sandbox tests: a catalogue and a shopper paying on the hosted page."""

from __future__ import annotations

from typing import Any

from stripe import StripeClient
from stripe.checkout import Session
from stripe_sandbox.testing import RunningSandbox

from stripe_sandbox import engine

OK_CARD = "4242424242424242"


def book_price(stripe_client: StripeClient, amount: int = 1200, name: str = "Dune") -> str:
    """A one-off GBP price; returns its id."""
    price = stripe_client.v1.prices.create(
        params={"product_data": {"name": name}, "unit_amount": amount, "currency": "gbp"}
    )
    return price.id


def membership_price(
    stripe_client: StripeClient, amount: int = 500, interval: str = "month"
) -> str:
    """A recurring GBP price; returns its id."""
    price = stripe_client.v1.prices.create(
        params={
            "product_data": {"name": "Membership"},
            "unit_amount": amount,
            "currency": "gbp",
            "recurring": {"interval": interval},
        }  # type: ignore[typeddict-item]
    )
    return price.id


def payment_session(stripe_client: StripeClient, price: str, **extra: Any) -> Session:
    """An open payment-mode session for one price."""
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{"price": price, "quantity": 1}],
        "success_url": "https://shop.test/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://shop.test/basket",
        **extra,
    }
    return stripe_client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]


def pay(
    sandbox: RunningSandbox,
    session_id: str,
    card: str = OK_CARD,
    email: str = "reader@example.com",
    **extra: Any,
) -> engine.PaymentOutcome:
    """The shopper pays on the hosted page with ``card``."""
    details = engine.PaymentDetails(
        email=email,
        card_number=card,
        exp_month=12,
        exp_year=2034,
        cvc="123",
        cardholder_name="Reader",
        **extra,
    )
    return engine.pay_checkout_session(sandbox.sandbox, session_id, details)


def event_types(stripe_client: StripeClient) -> list[str]:
    """Every event type so far, oldest first."""
    return [
        e.type
        for e in reversed(
            list(stripe_client.v1.events.list(params={"limit": 100}).auto_paging_iter())
        )
    ]


def portal_configuration(
    stripe_client: StripeClient, products: dict[str, list[str]] | None = None
) -> str:
    """Set up the billing portal as a shop would (invoices, card, cancel at period end and,
    for ``products`` {product: [prices]}, switching between those prices); returns its id."""
    switching = [{"product": p, "prices": prices} for p, prices in (products or {}).items()]
    features: dict[str, Any] = {
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
        "subscription_update": {
            "enabled": bool(switching),
            "default_allowed_updates": ["price"] if switching else [],
            "proration_behavior": "create_prorations",
            **({"products": switching} if switching else {}),
        },
    }
    config = stripe_client.v1.billing_portal.configurations.create(
        params={"features": features}  # type: ignore[typeddict-item]
    )
    return config.id
