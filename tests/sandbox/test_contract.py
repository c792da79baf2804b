"""Every object the sandbox returns carries at least the top-level keys of Stripe's
example object for its resource (tests/fixtures/stripe/fixtures3.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stripe import StripeClient

from shop.sandbox.testing import RunningSandbox

from .helpers import book_price, membership_price, pay, payment_session

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe" / "fixtures3.json"


def missing_keys(resource: str, obj: Any) -> set[str]:
    """Keys of Stripe's example ``resource`` that ``obj`` lacks."""
    example = json.loads(FIXTURES.read_text())["resources"][resource]
    return set(example) - set(obj.to_dict() if hasattr(obj, "to_dict") else obj)


def test_every_resource_has_the_example_keys(sandbox: RunningSandbox, client: StripeClient) -> None:
    """product, price, customer, checkout.session, item, payment_intent, charge, refund,
    payment_method, subscription, subscription_item, invoice, line_item, event,
    webhook_endpoint, billing_portal.session and test_helpers.test_clock."""
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["customer.created"]}
    )
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_780_000_000})
    price_id = book_price(client)
    session = payment_session(client, price_id, customer_creation="always")
    pay(sandbox, session.id)
    session = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items"]})
    pi = client.v1.payment_intents.retrieve(str(session.payment_intent))
    charge = client.v1.charges.retrieve(str(pi.latest_charge))
    refund = client.v1.refunds.create(params={"charge": charge.id, "amount": 100})
    customer = client.v1.customers.create(params={"email": "m@example.com", "test_clock": clock.id})
    sub_session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": membership_price(client), "quantity": 1}],
            "success_url": "https://shop.test/",
        }
    )
    pay(sandbox, sub_session.id)
    sub = client.v1.subscriptions.retrieve(
        str(client.v1.checkout.sessions.retrieve(sub_session.id).subscription)
    )
    invoice = client.v1.invoices.retrieve(str(sub.latest_invoice))
    portal = client.v1.billing_portal.sessions.create(params={"customer": customer.id})
    price = client.v1.prices.retrieve(price_id)
    objects: dict[str, Any] = {
        "product": client.v1.products.retrieve(str(price.product)),
        "price": price,
        "customer": customer,
        "checkout.session": session,
        "item": session.line_items.data[0] if session.line_items else {},
        "payment_intent": pi,
        "charge": charge,
        "refund": refund,
        "payment_method": client.v1.payment_methods.retrieve(str(pi.payment_method)),
        "subscription": sub,
        "subscription_item": sub["items"].data[0],
        "invoice": invoice,
        "line_item": invoice.lines.data[0],
        "event": client.v1.events.list().data[0],
        "webhook_endpoint": client.v1.webhook_endpoints.retrieve(endpoint.id),
        "billing_portal.session": portal,
        "test_helpers.test_clock": client.v1.test_helpers.test_clocks.retrieve(clock.id),
    }
    gaps = {resource: missing_keys(resource, obj) for resource, obj in objects.items()}
    assert {resource: keys for resource, keys in gaps.items() if keys} == {}
    for resource, obj in objects.items():
        assert obj["object"] == resource
