"""Shared steps for sandbox tests: a catalogue, a shopper paying on the hosted page, and the
webhook endpoints the `receiver` and `hanging` fixtures serve."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stripe import StripeClient
from stripe.checkout import Session
from stripe_sandbox.flows import engine
from stripe_sandbox.testing import RunningSandbox

OK_CARD = "4242424242424242"
#: Stripe's published example object for every resource (MIT).
STRIPE_EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe" / "fixtures3.json"


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
    return engine.pay_checkout_session(sandbox.state, session_id, details)


def event_types(stripe_client: StripeClient) -> list[str]:
    """Every event type so far, oldest first."""
    return [
        e.type
        for e in reversed(
            list(stripe_client.v1.events.list(params={"limit": 100}).auto_paging_iter())
        )
    ]


@dataclass
class Receiver:
    """A webhook endpoint that records what it is sent and answers ``statuses`` in turn."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[dict[str, Any]]:
        """Bodies received, parsed, in arrival order."""
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5
    ) -> list[dict[str, Any]]:
        """Wait until ``predicate(events)`` holds; returns the events."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            if predicate(events):
                return events
            time.sleep(0.02)
        raise AssertionError(f"timed out; received {[e['type'] for e in self.events()]}")


@dataclass
class HangingEndpoint:
    """A webhook endpoint that accepts requests and answers none until released."""

    url: str = ""
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


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
