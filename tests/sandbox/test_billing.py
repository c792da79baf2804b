"""Subscriptions through Checkout, test clocks, renewals, failures and the portal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import stripe
from stripe import StripeClient
from stripe_sandbox.flows import engine
from stripe_sandbox.flows.engine import CardDetails
from stripe_sandbox.flows.portal import (
    portal_cancel_at_period_end,
    portal_resume,
    portal_switch_price,
    portal_update_card,
)
from stripe_sandbox.testing import RunningSandbox, running_sandbox

from .helpers import (
    book_price,
    event_types,
    membership_price,
    pay,
    payment_session,
    portal_configuration,
)

DAY = 86_400
START = 1_780_000_000  # a fixed moment for test clocks (2026-05-28)


def subscribe(
    sandbox: RunningSandbox,
    stripe_client: StripeClient,
    price: str,
    *,
    card: str = "4242424242424242",
    trial_days: int | None = None,
    clock: str | None = None,
) -> stripe.Subscription:
    """A customer (on ``clock``) subscribes through Checkout; returns the subscription."""
    customer = stripe_client.v1.customers.create(
        params={"email": "member@example.com", **({"test_clock": clock} if clock else {})}
    )
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer": customer.id,
        "line_items": [{"price": price, "quantity": 1}],
        "success_url": "https://shop.test/welcome",
    }
    if trial_days:
        params["subscription_data"] = {"trial_period_days": trial_days}
    session = stripe_client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
    outcome = pay(sandbox, session.id, card=card, email="member@example.com")
    assert outcome.status == "succeeded"
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert done.subscription is not None
    return stripe_client.v1.subscriptions.retrieve(str(done.subscription))


def test_subscription_checkout_activates_after_first_invoice(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Card payment: subscription active, first invoice paid, events like Stripe's."""
    price = membership_price(stripe_client, 500)
    sub = subscribe(sandbox, stripe_client, price)
    assert sub.status == "active"
    item = sub["items"].data[0]
    assert item.id.startswith("si_") and item.price.id == price
    assert item.current_period_end - item.current_period_start in range(28 * DAY, 32 * DAY)
    assert sub.default_payment_method is not None
    invoice = stripe_client.v1.invoices.retrieve(
        str(sub.latest_invoice), params={"expand": ["payments"]}
    )
    assert (invoice.status, invoice.amount_paid, invoice.billing_reason) == (
        "paid",
        500,
        "subscription_create",
    )
    assert invoice.parent is not None and invoice.parent.subscription_details is not None
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.lines.data[0].id.startswith("il_")
    assert (
        invoice.payments is not None and invoice.payments.data[0].payment.payment_intent is not None
    )
    types = event_types(stripe_client)
    for earlier, later in [
        ("invoice.created", "customer.subscription.created"),
        ("customer.subscription.created", "invoice.finalized"),
        ("invoice.finalized", "invoice.paid"),
        ("invoice.paid", "invoice.payment_succeeded"),
        ("invoice.payment_succeeded", "checkout.session.completed"),
    ]:
        assert types.index(earlier) < types.index(later)
    created = stripe_client.v1.events.list(params={"type": "customer.subscription.created"}).data[0]
    assert created.data.object["status"] == "incomplete"
    updated = stripe_client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert updated.data.object["status"] == "active"
    assert (
        updated.data.previous_attributes is not None
        and updated.data.previous_attributes["status"] == "incomplete"
    )


def test_trial_signup_then_trial_end_on_a_test_clock(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A trial starts trialing with a paid 0 invoice; the clock runs trial_will_end and the first charge."""
    clock = stripe_client.v1.test_helpers.test_clocks.create(
        params={"frozen_time": START, "name": "trial"}
    )
    assert (clock.status, clock.frozen_time) == ("ready", START)
    sub = subscribe(
        sandbox, stripe_client, membership_price(stripe_client, 900), trial_days=7, clock=clock.id
    )
    assert (sub.status, sub.trial_end) == ("trialing", START + 7 * DAY)
    assert sub.created == START and sub.test_clock == clock.id
    first = stripe_client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert (first.amount_due, first.status) == (0, "paid")
    session = stripe_client.v1.checkout.sessions.list(params={"subscription": sub.id}).data[0]
    assert session.payment_status == "no_payment_required"
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": START + 5 * DAY}
    )
    assert "customer.subscription.trial_will_end" in event_types(stripe_client)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "trialing"
    advanced = stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": START + 8 * DAY}
    )
    assert (advanced.status, advanced.frozen_time) == ("ready", START + 8 * DAY)
    sub = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "active"
    assert sub["items"].data[0].current_period_start == START + 7 * DAY
    renewal = stripe_client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert (renewal.status, renewal.amount_paid, renewal.billing_reason) == (
        "paid",
        900,
        "subscription_cycle",
    )
    assert renewal.created == START + 7 * DAY
    types = event_types(stripe_client)
    assert types.index("test_helpers.test_clock.advancing") < types.index(
        "test_helpers.test_clock.ready"
    )


def test_renewals_follow_the_clock(sandbox: RunningSandbox, stripe_client: StripeClient) -> None:
    """Advancing two months renews twice, each invoice paid."""
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
    sub = subscribe(sandbox, stripe_client, membership_price(stripe_client), clock=clock.id)
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": START + 62 * DAY}
    )
    invoices = stripe_client.v1.invoices.list(params={"subscription": sub.id}).data
    assert [i.billing_reason for i in invoices] == [
        "subscription_cycle",
        "subscription_cycle",
        "subscription_create",
    ]
    assert all(i.status == "paid" for i in invoices)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_failing_card_goes_past_due_then_canceled(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """0341 pays at signup; renewals fail: past_due, retries, then canceled."""
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
    sub = subscribe(
        sandbox,
        stripe_client,
        membership_price(stripe_client),
        card="4000000000000341",
        clock=clock.id,
    )
    assert sub.status == "active"
    renewal_at = sub["items"].data[0].current_period_end
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": renewal_at + 60}
    )
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    failed = stripe_client.v1.invoices.list(params={"subscription": sub.id, "status": "open"}).data[
        0
    ]
    assert failed.attempt_count == 1 and failed.next_payment_attempt == renewal_at + 3 * DAY
    assert "invoice.payment_failed" in event_types(stripe_client)
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": renewal_at + 16 * DAY}
    )
    ended = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled"
    assert (
        ended.cancellation_details is not None
        and ended.cancellation_details.reason == "payment_failed"
    )
    assert event_types(stripe_client).count("invoice.payment_failed") == 4
    assert "customer.subscription.deleted" in event_types(stripe_client)
    assert sub.id not in [
        s.id
        for s in stripe_client.v1.subscriptions.list(params={"customer": str(sub.customer)}).data
    ]
    assert sub.id in [
        s.id for s in stripe_client.v1.subscriptions.list(params={"status": "all"}).data
    ]


def test_cancel_at_period_end_ends_at_the_period_end(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """cancel_at_period_end keeps the subscription until the period ends, then deletes it."""
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
    sub = subscribe(sandbox, stripe_client, membership_price(stripe_client), clock=clock.id)
    updated = stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    assert (updated.status, updated.cancel_at_period_end) == ("active", True)
    event = stripe_client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert event.data.previous_attributes is not None
    assert event.data.previous_attributes["cancel_at_period_end"] is False
    end = sub["items"].data[0].current_period_end
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": end + 10})
    ended = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert (ended.status, ended.ended_at) == ("canceled", end)
    assert len(stripe_client.v1.invoices.list(params={"subscription": sub.id}).data) == 1


def test_cancel_now_with_delete(sandbox: RunningSandbox, stripe_client: StripeClient) -> None:
    """DELETE cancels immediately and emits customer.subscription.deleted."""
    sub = subscribe(sandbox, stripe_client, membership_price(stripe_client))
    canceled = stripe_client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled"
    assert (
        stripe_client.v1.events.list(params={"type": "customer.subscription.deleted"})
        .data[0]
        .data.object["id"]
        == sub.id
    )
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})


def test_price_switch_prorates_on_next_invoice(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Switching price mid-period creates proration items billed at renewal."""
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
    sub = subscribe(sandbox, stripe_client, membership_price(stripe_client, 500), clock=clock.id)
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": START + 15 * DAY}
    )
    premium = membership_price(stripe_client, 1500)
    item_id = sub["items"].data[0].id
    updated = stripe_client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item_id, "price": premium}],
            "proration_behavior": "create_prorations",
        },
    )
    assert updated["items"].data[0].price.id == premium
    prorations = stripe_client.v1.invoice_items.list(params={"customer": str(sub.customer)}).data
    assert sorted(p.amount < 0 for p in prorations) == [False, True]
    net = sum(p.amount for p in prorations)
    assert 0 < net < 1000
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": START + 32 * DAY}
    )
    renewal = stripe_client.v1.invoices.retrieve(
        str(stripe_client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    )
    assert renewal.amount_paid == 1500 + net


def test_portal_sessions_are_refused_until_the_portal_is_configured(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """As in a fresh test account: no portal session until a configuration is saved;
    the first configuration created over the API becomes the default sessions use."""
    customer = stripe_client.v1.customers.create(params={"email": "m@example.com"}).id
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.billing_portal.sessions.create(params={"customer": customer})
    assert refused.value.http_status == 400
    assert refused.value.error is not None and refused.value.error.type == "invalid_request_error"
    assert refused.value.user_message == (
        "You can’t create a portal session in test mode until you save your customer portal "
        "settings in test mode at https://dashboard.stripe.com/test/settings/billing/portal."
    )
    assert stripe_client.v1.billing_portal.configurations.list().data == []
    config_id = portal_configuration(stripe_client)
    config = stripe_client.v1.billing_portal.configurations.retrieve(config_id)
    assert config.is_default is True and config.active is True
    assert config.features.invoice_history.enabled is True
    assert config.features.subscription_cancel.mode == "at_period_end"
    second = portal_configuration(stripe_client)
    assert stripe_client.v1.billing_portal.configurations.retrieve(second).is_default is False
    portal = stripe_client.v1.billing_portal.sessions.create(params={"customer": customer})
    assert portal.configuration == config_id
    named = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer, "configuration": second}
    )
    assert named.configuration == second
    defaults = stripe_client.v1.billing_portal.configurations.list(params={"is_default": True})
    assert [c.id for c in defaults.data] == [config_id]


def test_portal_configuration_update_and_plan_switch_prices(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Plan switching lists each product's allowed prices (recurring prices of that product);
    an update that changes nothing sends no event, a change sends one with previous_attributes."""
    monthly = stripe_client.v1.prices.retrieve(membership_price(stripe_client))
    yearly = stripe_client.v1.prices.create(
        params={
            "product": str(monthly.product),
            "unit_amount": 5000,
            "currency": "gbp",
            "recurring": {"interval": "year"},
        }
    )
    book = book_price(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as wrong:
        portal_configuration(stripe_client, {str(monthly.product): [monthly.id, book]})
    assert wrong.value.param == "features[subscription_update][products][0][prices]"
    config_id = portal_configuration(stripe_client, {str(monthly.product): [monthly.id, yearly.id]})
    plain = stripe_client.v1.billing_portal.configurations.retrieve(config_id)
    assert "products" not in plain.features.subscription_update.to_dict()  # only when expanded
    config = stripe_client.v1.billing_portal.configurations.retrieve(
        config_id, params={"expand": ["features.subscription_update.products"]}
    )
    update = config.features.subscription_update
    assert (update.enabled, update.default_allowed_updates) == (True, ["price"])
    assert update.products is not None
    listed = stripe_client.v1.billing_portal.configurations.list(
        params={"expand": ["data.features.subscription_update.products"]}
    ).data
    assert [p.product for p in listed[0].features.subscription_update.products or []] == [
        monthly.product
    ]
    assert [(p.product, p.prices) for p in update.products] == [
        (monthly.product, [monthly.id, yearly.id])
    ]
    same = {"features": {"invoice_history": {"enabled": True}}}
    stripe_client.v1.billing_portal.configurations.update(config_id, params=same)  # type: ignore[arg-type]
    assert "billing_portal.configuration.updated" not in event_types(stripe_client)
    stripe_client.v1.billing_portal.configurations.update(
        config_id, params={"features": {"invoice_history": {"enabled": False}}}
    )
    updated = stripe_client.v1.events.list(
        params={"type": "billing_portal.configuration.updated"}
    ).data
    assert len(updated) == 1
    assert updated[0].data.object["features"]["invoice_history"]["enabled"] is False
    previous = updated[0].data.previous_attributes
    assert previous is not None and previous["features"]["invoice_history"]["enabled"] is True


def test_portal_session_and_portal_actions(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A portal session points at the hosted portal; portal actions emit Stripe's events."""
    sub = subscribe(sandbox, stripe_client, membership_price(stripe_client))
    customer = str(sub.customer)
    portal_configuration(stripe_client)
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer, "return_url": "https://shop.test/account"}
    )
    assert portal.id.startswith("bps_") and portal.url == f"{sandbox.base_url}/portal/{portal.id}"
    created = stripe_client.v1.events.list(params={"type": "billing_portal.session.created"}).data
    assert [e.data.object["id"] for e in created] == [portal.id]
    assert created[0].data.object["url"] == portal.url
    portal_cancel_at_period_end(sandbox.state, sub.id)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is True
    portal_resume(sandbox.state, sub.id)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is False
    outcome = portal_update_card(
        sandbox.state, customer, CardDetails("5555555555554444", 1, 2033, "123")
    )
    assert outcome.status == "succeeded"
    refreshed = stripe_client.v1.customers.retrieve(customer)
    assert (
        refreshed.invoice_settings is not None
        and refreshed.invoice_settings.default_payment_method is not None
    )
    pm = stripe_client.v1.payment_methods.retrieve(
        str(refreshed.invoice_settings.default_payment_method)
    )
    assert pm.card is not None and pm.card.last4 == "4444" and pm.customer == customer
    declined = portal_update_card(
        sandbox.state, customer, CardDetails("4000000000000002", 1, 2033, "123")
    )
    assert (declined.status, declined.message) == ("declined", "Your card was declined.")
    types = event_types(stripe_client)
    assert "payment_method.attached" in types and "customer.updated" in types


def test_portal_cancel_and_resume_read_the_subscription_in_their_transaction(
    sandbox: RunningSandbox, stripe_client: StripeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Portal cancel/resume read the subscription inside the transaction that writes it,
    so a change committed between a read and the write is never overwritten."""
    sub = subscribe(sandbox, stripe_client, membership_price(stripe_client))
    store = sandbox.state.store
    reads: list[int] = []
    real_get = store.get

    def get(object_id: str) -> dict[str, Any] | None:
        if object_id == sub.id:
            reads.append(store._depth)
        return real_get(object_id)

    monkeypatch.setattr(store, "get", get)
    canceled = portal_cancel_at_period_end(sandbox.state, sub.id)
    resumed = portal_resume(sandbox.state, sub.id)
    monkeypatch.undo()
    assert canceled["cancel_at"] == sub["items"].data[0].current_period_end
    assert resumed["cancel_at_period_end"] is False
    assert reads and all(depth > 0 for depth in reads), reads


def test_subscription_list_filters(sandbox: RunningSandbox, stripe_client: StripeClient) -> None:
    """Subscriptions filter by customer, price and status."""
    price = membership_price(stripe_client)
    sub = subscribe(sandbox, stripe_client, price)
    assert [s.id for s in stripe_client.v1.subscriptions.list(params={"price": price}).data] == [
        sub.id
    ]
    assert [
        s.id for s in stripe_client.v1.subscriptions.list(params={"status": "active"}).data
    ] == [sub.id]
    assert stripe_client.v1.subscriptions.list(params={"status": "past_due"}).data == []


def test_open_sessions_of_clock_customers_expire_on_advance(stripe_client: StripeClient) -> None:
    """Advancing a clock past a session's expires_at expires it."""
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
    customer = stripe_client.v1.customers.create(params={"test_clock": clock.id})
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": membership_price(stripe_client), "quantity": 1}],
            "success_url": "https://shop.test/",
        }
    )
    assert session.expires_at == START + DAY
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": START + 2 * DAY}
    )
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "expired"


def test_clock_list_and_delete(stripe_client: StripeClient) -> None:
    """Clocks list newest first and can be deleted."""
    first = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
    second = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
    assert [c.id for c in stripe_client.v1.test_helpers.test_clocks.list().data] == [
        second.id,
        first.id,
    ]
    assert stripe_client.v1.test_helpers.test_clocks.delete(first.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.test_helpers.test_clocks.retrieve(first.id)


def membership_session(stripe_client: StripeClient, **extra: Any) -> stripe.checkout.Session:
    """An open subscription-mode session for a new membership price, no customer yet."""
    params: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": membership_price(stripe_client), "quantity": 1}],
        "success_url": "https://shop.test/",
        **extra,
    }
    return stripe_client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]


def test_subscription_with_three_d_secure(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """3155 in subscription mode: nothing is subscribed while the challenge waits; approval subscribes."""
    session = membership_session(stripe_client)
    assert pay(sandbox, session.id, card="4000002500003155").status == "requires_action"
    pending = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (pending.status, pending.subscription, pending.invoice) == ("open", None, None)
    assert stripe_client.v1.subscriptions.list(params={"status": "all"}).data == []
    assert (
        engine.complete_authentication(sandbox.state, session.id, approve=True).status
        == "succeeded"
    )
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert done.status == "complete"
    assert stripe_client.v1.subscriptions.retrieve(str(done.subscription)).status == "active"


def test_subscription_item_retrieve_and_list(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Subscription items can be read on their own, with their period."""
    sub = subscribe(sandbox, stripe_client, membership_price(stripe_client))
    item = sub["items"].data[0]
    fetched = stripe_client.v1.subscription_items.retrieve(item.id)
    assert (fetched.subscription, fetched.current_period_end) == (sub.id, item.current_period_end)
    assert [
        i.id for i in stripe_client.v1.subscription_items.list(params={"subscription": sub.id}).data
    ] == [item.id]


def test_declined_subscription_checkout_creates_nothing_until_a_retry_succeeds(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A declined first payment leaves no subscription, no invoice and sends neither's events."""
    session = membership_session(stripe_client)
    declined = pay(sandbox, session.id, card="4000000000000002")
    assert (declined.status, declined.decline_code) == ("declined", "generic_decline")
    still_open = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (still_open.status, still_open.subscription, still_open.invoice) == ("open", None, None)
    assert stripe_client.v1.subscriptions.list(params={"status": "all"}).data == []
    assert stripe_client.v1.invoices.list().data == []
    types = event_types(stripe_client)
    assert not [t for t in types if t.startswith(("invoice.", "customer.subscription."))]
    assert pay(sandbox, session.id).status == "succeeded"
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    subs = stripe_client.v1.subscriptions.list(params={"status": "all"}).data
    assert [(s.id, s.status) for s in subs] == [(done.subscription, "active")]
    invoice = stripe_client.v1.invoices.retrieve(str(subs[0].latest_invoice))
    assert (invoice.status, invoice.attempt_count) == ("paid", 1)
    assert "invoice.payment_failed" not in event_types(stripe_client)


def test_declined_subscription_checkout_through_the_pay_test_helper(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """The same over the HTTP test helper: the decline answers with Stripe's message and the
    session open, no subscription exists; a good card then subscribes."""
    session = membership_session(stripe_client)
    path = f"/v1/test_helpers/checkout/sessions/{session.id}/pay"
    declined = stripe_client.deserialize(
        stripe_client.raw_request(
            "post", path, email="m@example.com", card_number="4000000000009995"
        ),
        api_mode="V1",
    )
    assert declined["outcome"]["status"] == "declined"
    assert declined["outcome"]["message"] == "Your card has insufficient funds."
    assert (declined["session"]["status"], declined["session"]["subscription"]) == ("open", None)
    assert stripe_client.v1.subscriptions.list(params={"status": "all"}).data == []
    paid = stripe_client.deserialize(
        stripe_client.raw_request("post", path, email="m@example.com"), api_mode="V1"
    )
    assert paid["outcome"]["status"] == "succeeded"
    sub = stripe_client.v1.subscriptions.retrieve(str(paid["session"]["subscription"]))
    assert sub.status == "active"


def test_failed_authentication_then_retry_keeps_one_subscription(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """3178 authenticates then declines: no subscription yet; a good card then subscribes once."""
    session = membership_session(stripe_client)
    assert pay(sandbox, session.id, card="4000008260003178").status == "requires_action"
    declined = engine.complete_authentication(sandbox.state, session.id, approve=True)
    assert (declined.status, declined.decline_code) == ("declined", "insufficient_funds")
    assert stripe_client.v1.subscriptions.list(params={"status": "all"}).data == []
    assert stripe_client.v1.invoices.list().data == []
    types = event_types(stripe_client)
    assert "payment_intent.payment_failed" in types
    assert not [t for t in types if t.startswith(("invoice.", "customer.subscription."))]
    assert pay(sandbox, session.id).status == "succeeded"
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    customer = str(done.customer)
    assert len(stripe_client.v1.customers.list().data) == 1
    subs = stripe_client.v1.subscriptions.list(params={"customer": customer, "status": "all"}).data
    assert [s.status for s in subs] == ["active"]
    invoice = stripe_client.v1.invoices.retrieve(
        str(subs[0].latest_invoice), params={"expand": ["payments"]}
    )
    assert (invoice.status, invoice.attempt_count, invoice.amount_paid) == ("paid", 1, 500)
    pi = stripe_client.v1.payment_intents.retrieve(
        str(invoice.payments.data[0].payment.payment_intent)  # type: ignore[union-attr]
    )
    assert (pi.status, pi.customer) == ("succeeded", customer)


def test_trial_checkout_creates_the_trialing_subscription_at_completion(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """With nothing due (a trial), completing Checkout creates the trialing subscription at once."""
    session = membership_session(stripe_client, subscription_data={"trial_period_days": 14})
    assert pay(sandbox, session.id).status == "succeeded"
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status) == ("complete", "no_payment_required")
    sub = stripe_client.v1.subscriptions.retrieve(str(done.subscription))
    assert sub.status == "trialing"
    assert "payment_intent.created" not in event_types(stripe_client)


def test_invoice_payments_list(sandbox: RunningSandbox, stripe_client: StripeClient) -> None:
    """invoice.payments names the PaymentIntent that paid it and can be listed."""
    sub = subscribe(sandbox, stripe_client, membership_price(stripe_client))
    invoice = stripe_client.v1.invoices.retrieve(str(sub.latest_invoice))
    payments = stripe_client.v1.invoice_payments.list(params={"invoice": invoice.id}).data
    assert [p.status for p in payments] == ["paid"]
    pi = stripe_client.v1.payment_intents.retrieve(str(payments[0].payment.payment_intent))
    assert (pi.status, pi.amount) == ("succeeded", invoice.amount_paid)


def test_switching_to_a_yearly_price_restarts_the_cycle(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A monthly→yearly switch starts a yearly period now and invoices it, less unused time."""
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
    sub = subscribe(sandbox, stripe_client, membership_price(stripe_client, 1000), clock=clock.id)
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": START + 10 * DAY}
    )
    yearly = membership_price(stripe_client, 10000, interval="year")
    portal_switch_price(sandbox.state, sub.id, yearly)
    sub = stripe_client.v1.subscriptions.retrieve(sub.id)
    item = sub["items"].data[0]
    assert item.current_period_start == START + 10 * DAY
    assert item.current_period_end - item.current_period_start in (365 * DAY, 366 * DAY)
    invoice = stripe_client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert (invoice.billing_reason, invoice.status) == ("subscription_update", "paid")
    assert 10000 - 1000 < invoice.amount_paid < 10000


def test_renewal_invoice_can_wait_in_draft(tmp_path: Path) -> None:
    """With invoice_finalize_delay the renewal invoice is a draft for that long, then charged."""
    with running_sandbox(tmp_path / "draft.sqlite3", invoice_finalize_delay=3600) as running:
        stripe_client = running.client()
        clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
        sub = subscribe(running, stripe_client, membership_price(stripe_client), clock=clock.id)
        end = sub["items"].data[0].current_period_end
        stripe_client.v1.test_helpers.test_clocks.advance(
            clock.id, params={"frozen_time": end + 60}
        )
        draft = stripe_client.v1.invoices.retrieve(
            str(stripe_client.v1.subscriptions.retrieve(sub.id).latest_invoice)
        )
        assert (draft.status, draft.automatically_finalizes_at) == ("draft", end + 3600)
        stripe_client.v1.test_helpers.test_clocks.advance(
            clock.id, params={"frozen_time": end + 7200}
        )
        paid = stripe_client.v1.invoices.retrieve(draft.id)
        assert (paid.status, paid.status_transitions.finalized_at) == ("paid", end + 3600)


def test_unknown_parameters_are_refused_on_portal_dispute_invoice_and_card_writes(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """Portal configuration updates, dispute closes, invoice payments and payment-method
    attach/detach are checked against the SDK's params: an unknown one (nested too) is
    refused with its full name, and nothing changes."""
    config_id = portal_configuration(stripe_client)
    config_before = stripe_client.v1.billing_portal.configurations.retrieve(config_id).to_dict()
    disputed = payment_session(stripe_client, book_price(stripe_client))
    pay(sandbox, disputed.id, card="4000000000000259")
    (dispute,) = stripe_client.v1.disputes.list().data
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
    sub = subscribe(
        sandbox,
        stripe_client,
        membership_price(stripe_client),
        card="4000000000000341",
        clock=clock.id,
    )
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": sub["items"].data[0].current_period_end + 60}
    )
    (invoice,) = stripe_client.v1.invoices.list(
        params={"subscription": sub.id, "status": "open"}
    ).data
    customer_id = str(sub.customer)
    (card,) = stripe_client.v1.payment_methods.list(params={"customer": customer_id}).data
    other = stripe_client.v1.customers.create(params={"email": "other@example.com"})
    events_before = event_types(stripe_client)

    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            f"/v1/billing_portal/configurations/{config_id}",
            {"features": {"invoice_history": {"enabled": False, "bogus": True}}},
            "features[invoice_history][bogus]",
        ),
        (
            f"/v1/billing_portal/configurations/{config_id}",
            {"active": False, "colour": "red"},
            "colour",
        ),
        (f"/v1/disputes/{dispute.id}/close", {"accept": "true"}, "accept"),
        (
            f"/v1/invoices/{invoice.id}/pay",
            {"payment_method": card.id, "paid_by": "cheque"},
            "paid_by",
        ),
        (
            f"/v1/payment_methods/{card.id}/attach",
            {"customer": other.id, "make_default": "true"},
            "make_default",
        ),
        (f"/v1/payment_methods/{card.id}/detach", {"customer": customer_id}, "customer"),
    ]
    for path, params, name in cases:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            stripe_client.raw_request("post", path, **params)
        assert (caught.value.param, caught.value.code) == (name, "parameter_unknown"), path
        assert caught.value.user_message == f"Received unknown parameter: {name}", path

    assert (
        stripe_client.v1.billing_portal.configurations.retrieve(config_id).to_dict()
        == config_before
    )
    assert stripe_client.v1.disputes.retrieve(dispute.id).status == "needs_response"
    after = stripe_client.v1.invoices.retrieve(invoice.id)
    assert (after.status, after.attempt_count) == ("open", invoice.attempt_count)
    assert stripe_client.v1.payment_methods.retrieve(card.id).customer == customer_id
    assert event_types(stripe_client) == events_before


def test_paying_an_open_invoice_now_declines_with_402_then_pays_once_the_card_is_fixed(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """`POST /v1/invoices/{id}/pay` on a failed renewal: a card that still fails answers
    402 `card_declined` with the issuer's message, counts the attempt and keeps the
    automatic retry schedule (the subscription stays past_due); after the card is
    replaced it pays, the subscription is active again, and paying again is refused."""
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
    sub = subscribe(
        sandbox,
        stripe_client,
        membership_price(stripe_client),
        card="4000000000000341",
        clock=clock.id,
    )
    renewal_at = sub["items"].data[0].current_period_end
    stripe_client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": renewal_at + 60}
    )
    (invoice,) = stripe_client.v1.invoices.list(
        params={"subscription": sub.id, "status": "open"}
    ).data
    failures = event_types(stripe_client).count("invoice.payment_failed")

    with pytest.raises(stripe.CardError) as caught:
        stripe_client.v1.invoices.pay(invoice.id)

    assert (caught.value.http_status, caught.value.code) == (402, "card_declined")
    assert caught.value.user_message == "Your card was declined."
    after = stripe_client.v1.invoices.retrieve(invoice.id)
    assert (after.status, after.attempt_count) == ("open", invoice.attempt_count + 1)
    assert after.next_payment_attempt == invoice.next_payment_attempt
    assert event_types(stripe_client).count("invoice.payment_failed") == failures + 1
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"

    fixed = portal_update_card(
        sandbox.state,
        str(sub.customer),
        CardDetails("4242424242424242", 12, 2033, "123"),
        pay_open_invoices=False,  # the card saved, the invoice left open for `/pay`
    )
    assert fixed.status == "succeeded"
    paid = stripe_client.v1.invoices.pay(invoice.id)

    assert (paid.status, paid.amount_paid) == ("paid", invoice.amount_due)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    with pytest.raises(stripe.InvalidRequestError) as again:
        stripe_client.v1.invoices.pay(invoice.id)
    assert again.value.user_message == "Invoice is already paid"
