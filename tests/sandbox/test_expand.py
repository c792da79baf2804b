"""expand[]: only expandable fields expand; fields current API versions return only when
expanded (charge.refunds, invoice.payments) or no longer at all (invoice.subscription)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from stripe import StripeClient
from stripe_sandbox.testing import RunningSandbox

from .helpers import book_price, membership_price, pay, payment_session


def _paid_session(sandbox: RunningSandbox, stripe_client: StripeClient) -> str:
    session = payment_session(stripe_client, book_price(stripe_client, 1200))
    pay(sandbox, session.id)
    return session.id


def _subscription(sandbox: RunningSandbox, stripe_client: StripeClient) -> stripe.Subscription:
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": membership_price(stripe_client, 500), "quantity": 1}],
            "success_url": "https://shop.test/ok",
        }
    )
    assert pay(sandbox, session.id, email="member@example.com").status == "succeeded"
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    return stripe_client.v1.subscriptions.retrieve(str(done.subscription))


def _refused(call: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        call()
    assert caught.value.http_status == 400
    assert caught.value.param == "expand"
    return caught.value


def test_expanding_what_cannot_be_expanded_is_refused(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A plain field, a hash, an unknown name or a list without data. is Stripe's 400."""
    session_id = _paid_session(sandbox, stripe_client)
    sessions = stripe_client.v1.checkout.sessions
    for path, name in [
        ("metadata", "metadata"),
        ("amount_total", "amount_total"),
        ("foo", "foo"),
        ("customer_details", "customer_details"),
        ("payment_intent.foo", "foo"),
        ("payment_intent.amount", "amount"),
        ("data", "data"),
    ]:
        error = _refused(lambda path=path: sessions.retrieve(session_id, params={"expand": [path]}))
        assert error.user_message == f"This property cannot be expanded ({name})."
    error = _refused(lambda: sessions.list(params={"expand": ["payment_intent"]}))
    assert error.user_message == (
        "This property cannot be expanded (payment_intent). "
        "You may want to try expanding 'data.payment_intent' instead."
    )
    error = _refused(lambda: sessions.list(params={"expand": ["data.amount_total"]}))
    assert error.user_message == "This property cannot be expanded (amount_total)."


def test_expandable_fields_still_expand(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Ids, nested ids, list items with data., and embedded lists on the way."""
    session_id = _paid_session(sandbox, stripe_client)
    session = stripe_client.v1.checkout.sessions.retrieve(
        session_id,
        params={"expand": ["payment_intent.latest_charge", "line_items.data.price.product"]},
    )
    assert isinstance(session.payment_intent, stripe.PaymentIntent)
    assert isinstance(session.payment_intent.latest_charge, stripe.Charge)
    assert session.line_items is not None
    price = session.line_items.data[0].price
    assert price is not None and isinstance(price.product, stripe.Product)
    listed = stripe_client.v1.checkout.sessions.list(
        params={"expand": ["data.payment_intent.latest_charge"]}
    )
    assert isinstance(listed.data[0].payment_intent, stripe.PaymentIntent)
    sub = _subscription(sandbox, stripe_client)
    sub = stripe_client.v1.subscriptions.retrieve(
        sub.id, params={"expand": ["items.data.price.product", "latest_invoice", "customer"]}
    )
    assert isinstance(sub["items"].data[0].price.product, stripe.Product)
    assert isinstance(sub.latest_invoice, stripe.Invoice)
    assert isinstance(sub.customer, stripe.Customer)
    invoice = stripe_client.v1.invoices.retrieve(
        sub.latest_invoice.id, params={"expand": ["parent.subscription_details.subscription"]}
    )
    assert invoice.parent is not None and invoice.parent.subscription_details is not None
    assert isinstance(invoice.parent.subscription_details.subscription, stripe.Subscription)
    invoices = stripe_client.v1.invoices.list(
        params={"expand": ["data.parent.subscription_details.subscription"]}
    )
    details = invoices.data[0].parent.subscription_details  # type: ignore[union-attr]
    assert isinstance(details.subscription, stripe.Subscription)  # type: ignore[union-attr]


def test_invoice_has_no_top_level_subscription(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """The subscription id lives at parent.subscription_details.subscription only."""
    sub = _subscription(sandbox, stripe_client)
    invoice = stripe_client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert "subscription" not in invoice.to_dict()
    assert invoice.parent is not None and invoice.parent.subscription_details is not None
    assert invoice.parent.subscription_details.subscription == sub.id
    paid = stripe_client.v1.events.list(params={"type": "invoice.paid"}).data[0]
    assert "subscription" not in paid.data.object
    assert paid.data.object["parent"]["subscription_details"]["subscription"] == sub.id


def test_invoice_payments_only_when_expanded(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """invoice.payments is absent unless expand[]=payments asks for it."""
    sub = _subscription(sandbox, stripe_client)
    invoice = stripe_client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert "payments" not in invoice.to_dict()
    invoice = stripe_client.v1.invoices.retrieve(
        invoice.id, params={"expand": ["payments.data.payment.payment_intent"]}
    )
    assert invoice.payments is not None
    (payment,) = invoice.payments.data
    assert payment.status == "paid"
    assert isinstance(payment.payment.payment_intent, stripe.PaymentIntent)
    listed = stripe_client.v1.invoices.list(params={"expand": ["data.payments"]})
    assert listed.data[0].payments is not None
    events = stripe_client.v1.events.list(params={"type": "invoice.paid"}).data
    assert "payments" not in events[0].data.object


def test_charge_refunds_only_when_expanded(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """charge.refunds is absent unless expand[]=refunds asks for it, in events too."""
    session = stripe_client.v1.checkout.sessions.retrieve(_paid_session(sandbox, stripe_client))
    pi = stripe_client.v1.payment_intents.retrieve(str(session.payment_intent))
    refund = stripe_client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 200})
    charge = stripe_client.v1.charges.retrieve(str(pi.latest_charge))
    assert "refunds" not in charge.to_dict()
    assert charge.amount_refunded == 200
    charge = stripe_client.v1.charges.retrieve(charge.id, params={"expand": ["refunds"]})
    assert charge.refunds is not None
    assert [(r.id, r.amount) for r in charge.refunds.data] == [(refund.id, 200)]
    pi = stripe_client.v1.payment_intents.retrieve(
        pi.id, params={"expand": ["latest_charge.refunds"]}
    )
    assert isinstance(pi.latest_charge, stripe.Charge) and pi.latest_charge.refunds is not None
    listed = stripe_client.v1.charges.list(params={"expand": ["data.refunds"]})
    assert listed.data[0].refunds is not None
    (event,) = stripe_client.v1.events.list(params={"type": "charge.refunded"}).data
    assert "refunds" not in event.data.object
    assert "refunds" not in (event.data.previous_attributes or {})
    assert event.data.object["amount_refunded"] == 200
