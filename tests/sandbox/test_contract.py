"""Every object the sandbox returns carries at least the top-level keys of Stripe's
example object for its resource (tests/fixtures/stripe/fixtures3.json), less the fields
current API versions return only when expanded and those they no longer return."""

from __future__ import annotations

import json
from typing import Any

from stripe import StripeClient
from stripe_sandbox.testing import RunningSandbox

from .helpers import STRIPE_EXAMPLES as FIXTURES
from .helpers import book_price, membership_price, pay, payment_session, portal_configuration

# Returned only when expanded (charge.refunds since 2022-11-15; invoice.payments), or no
# longer returned at all (invoice.subscription, now parent.subscription_details, basil).
NOT_BY_DEFAULT = {"charge": {"refunds"}, "invoice": {"payments", "subscription"}}


def missing_keys(resource: str, obj: Any) -> set[str]:
    """Keys of Stripe's example ``resource`` that ``obj`` lacks."""
    example = json.loads(FIXTURES.read_text())["resources"][resource]
    expected = set(example) - NOT_BY_DEFAULT.get(resource, set())
    return expected - set(obj.to_dict() if hasattr(obj, "to_dict") else obj)


def test_every_resource_has_the_example_keys(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """product, price, customer, checkout.session, item, payment_intent, charge, refund,
    payment_method, subscription, subscription_item, invoice, line_item, event,
    webhook_endpoint, billing_portal.session, billing_portal.configuration, invoiceitem,
    invoice_payment and test_helpers.test_clock; and the ``data.object`` of every event
    emitted on the way."""
    endpoint = stripe_client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["customer.created"]}
    )
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_780_000_000})
    price_id = book_price(stripe_client)
    session = payment_session(stripe_client, price_id, customer_creation="always")
    pay(sandbox, session.id)
    session = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["line_items"]}
    )
    pi = stripe_client.v1.payment_intents.retrieve(str(session.payment_intent))
    charge = stripe_client.v1.charges.retrieve(str(pi.latest_charge))
    refund = stripe_client.v1.refunds.create(params={"charge": charge.id, "amount": 100})
    customer = stripe_client.v1.customers.create(
        params={"email": "m@example.com", "test_clock": clock.id}
    )
    sub_session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": membership_price(stripe_client), "quantity": 1}],
            "success_url": "https://shop.test/",
        }
    )
    pay(sandbox, sub_session.id)
    sub = stripe_client.v1.subscriptions.retrieve(
        str(stripe_client.v1.checkout.sessions.retrieve(sub_session.id).subscription)
    )
    invoice = stripe_client.v1.invoices.retrieve(str(sub.latest_invoice))
    portal_configuration(stripe_client)
    portal = stripe_client.v1.billing_portal.sessions.create(params={"customer": customer.id})
    price = stripe_client.v1.prices.retrieve(price_id)
    stripe_client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [
                {
                    "id": sub["items"].data[0].id,
                    "price": membership_price(stripe_client, amount=900),
                }
            ]
        },
    )
    stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": 1_780_000_000 + 40 * 86_400}
    )
    stripe_client.v1.customers.update(customer.id, params={"name": "M"})
    stripe_client.v1.products.delete(stripe_client.v1.products.create(params={"name": "Gone"}).id)
    objects: dict[str, Any] = {
        "product": stripe_client.v1.products.retrieve(str(price.product)),
        "price": price,
        "customer": customer,
        "checkout.session": session,
        "item": session.line_items.data[0] if session.line_items else {},
        "payment_intent": pi,
        "charge": charge,
        "refund": refund,
        "payment_method": stripe_client.v1.payment_methods.retrieve(str(pi.payment_method)),
        "subscription": sub,
        "subscription_item": sub["items"].data[0],
        "invoice": invoice,
        "line_item": invoice.lines.data[0],
        "event": stripe_client.v1.events.list().data[0],
        "webhook_endpoint": stripe_client.v1.webhook_endpoints.retrieve(endpoint.id),
        "billing_portal.session": portal,
        "billing_portal.configuration": stripe_client.v1.billing_portal.configurations.retrieve(
            str(portal.configuration)
        ),
        "invoiceitem": stripe_client.v1.invoice_items.list(params={"customer": customer.id}).data[
            0
        ],
        "invoice_payment": stripe_client.v1.invoice_payments.list(
            params={"invoice": invoice.id}
        ).data[0],
        "test_helpers.test_clock": stripe_client.v1.test_helpers.test_clocks.retrieve(clock.id),
    }
    gaps = {resource: missing_keys(resource, obj) for resource, obj in objects.items()}
    assert {resource: keys for resource, keys in gaps.items() if keys} == {}
    for resource, obj in objects.items():
        assert obj["object"] == resource

    events = list(stripe_client.v1.events.list(params={"limit": 100}).auto_paging_iter())
    event_gaps: dict[str, set[str]] = {}
    for event in events:
        data = event.data.object.to_dict()
        resource = data["object"]
        if data.get("deleted") is True:
            resource = f"deleted_{resource}"
        event_gaps.setdefault(event.type, set()).update(missing_keys(resource, data))
    assert {t: keys for t, keys in event_gaps.items() if keys} == {}
    assert set(event_gaps) >= EMITTED_HERE


#: Event types the contract scenario must produce (so every type above is checked).
EMITTED_HERE = {
    "product.created",
    "product.deleted",
    "price.created",
    "customer.created",
    "customer.updated",
    "checkout.session.completed",
    "payment_intent.created",
    "payment_intent.succeeded",
    "charge.succeeded",
    "charge.updated",
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "payment_method.attached",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoiceitem.created",
    "billing_portal.configuration.created",
    "billing_portal.session.created",
    "test_helpers.test_clock.created",
    "test_helpers.test_clock.advancing",
    "test_helpers.test_clock.ready",
}


def test_every_event_type_carries_the_example_keys(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """The rest of the event types the sandbox emits (declines, bank debits, 3-D Secure,
    expiry, detaching, deletions, trials, failed renewals): each ``data.object`` has
    the keys of Stripe's example of its resource."""
    price_id = book_price(stripe_client)
    declined = payment_session(stripe_client, price_id)
    assert pay(sandbox, declined.id, card="4000000000000002").status == "declined"
    pay(sandbox, declined.id)
    stripe_client.v1.checkout.sessions.expire(payment_session(stripe_client, price_id).id)
    secure = payment_session(stripe_client, price_id)
    assert pay(sandbox, secure.id, card="4000002500003155").status == "requires_action"
    stripe_client.v1.checkout.sessions.expire(secure.id)
    bank = payment_session(stripe_client, price_id)
    assert pay(sandbox, bank.id, method="bank_debit").status == "processing"
    stripe_client.raw_request("post", f"/v1/test_helpers/checkout/sessions/{bank.id}/settle")
    failing_bank = payment_session(stripe_client, price_id)
    pay(sandbox, failing_bank.id, method="bank_debit", bank_account_number="000111111116")
    stripe_client.raw_request(
        "post", f"/v1/test_helpers/checkout/sessions/{failing_bank.id}/settle"
    )
    disputed = payment_session(stripe_client, price_id)
    pay(sandbox, disputed.id, card="4000000000000259")
    dispute = stripe_client.v1.disputes.list().data[0]
    stripe_client.v1.disputes.update(
        dispute.id, params={"evidence": {"uncategorized_text": "winning_evidence"}}
    )
    stripe_client.v1.prices.update(price_id, params={"nickname": "n"})
    product = stripe_client.v1.products.create(params={"name": "P"})
    stripe_client.v1.products.update(product.id, params={"name": "Q"})

    start = 1_780_000_000
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": start})
    customer = stripe_client.v1.customers.create(
        params={"email": "t@example.com", "test_clock": clock.id}
    )
    trial = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": membership_price(stripe_client), "quantity": 1}],
            "subscription_data": {"trial_period_days": 7},
            "success_url": "https://shop.test/",
        }
    )
    pay(sandbox, trial.id, card="4000000000000341")
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": start + 8 * 86_400}
    )
    pm = stripe_client.v1.payment_methods.list(params={"customer": customer.id}).data[0]
    stripe_client.v1.payment_methods.detach(pm.id)
    stripe_client.v1.test_helpers.test_clocks.delete(clock.id)
    stripe_client.v1.customers.delete(
        stripe_client.v1.customers.create(params={"email": "x@example.com"}).id
    )

    events = list(stripe_client.v1.events.list(params={"limit": 100}).auto_paging_iter())
    gaps: dict[str, set[str]] = {}
    for event in events:
        data = event.data.object.to_dict()
        resource = data["object"]
        if data.get("deleted") is True:
            resource = f"deleted_{resource}"
        gaps.setdefault(event.type, set()).update(missing_keys(resource, data))
    assert {t: keys for t, keys in gaps.items() if keys} == {}
    assert set(gaps) >= {
        "checkout.session.expired",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "payment_intent.payment_failed",
        "payment_intent.processing",
        "payment_intent.requires_action",
        "payment_intent.canceled",
        "charge.failed",
        "charge.pending",
        "payment_method.detached",
        "customer.deleted",
        "customer.subscription.trial_will_end",
        "invoice.payment_failed",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
        "price.updated",
        "product.updated",
        "test_helpers.test_clock.deleted",
    }
