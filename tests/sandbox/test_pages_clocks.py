"""The dashboard's test clocks over plain HTTP: each clock with its customers and
subscriptions, and buttons that run a membership's trial end, renewals and failed
payments as Stripe would, webhooks included; the billing portal's new card then pays
what a refused renewal left open."""

from __future__ import annotations

import re
from typing import Any

import pytest
from stripe import StripeClient
from stripe_sandbox.testing import RunningSandbox

from .helpers import Receiver, portal_configuration
from .pages_support import Visitor, recurring, text_of

pytestmark = pytest.mark.sandbox

DAY = 86_400
START = 1_767_225_600  # 2026-01-01 00:00 UTC
FAILS_LATER = "4000 0000 0000 0341"


def _card(number: str) -> dict[str, str]:
    return {
        "card_number": number,
        "card_expiry": "12/34",
        "card_cvc": "123",
        "cardholder_name": "Ada Lovelace",
    }


def _member_on_a_clock(
    sandbox: RunningSandbox, stripe_client: StripeClient, card: str, trial_days: int = 14
) -> dict[str, Any]:
    """A customer on a new clock who starts a £9/month membership on hosted Checkout."""
    clock = stripe_client.v1.test_helpers.test_clocks.create(
        params={"frozen_time": START, "name": "ada's clock"}
    )
    customer = stripe_client.v1.customers.create(
        params={"email": "ada@example.com", "test_clock": clock.id}
    )
    product = stripe_client.v1.products.create(params={"name": "Reader"}).id
    price = recurring(stripe_client, product, 900, "month")
    session = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": price, "quantity": 1}],
            "subscription_data": {"trial_period_days": trial_days} if trial_days else {},
            "success_url": "https://shop.test/welcome",
        }
    )
    paid = Visitor(sandbox).submit(
        f"/checkout/{session.id}", {"email": "ada@example.com", **_card(card)}
    )
    assert paid.status_code == 303
    subscription = stripe_client.v1.checkout.sessions.retrieve(session.id).subscription
    assert isinstance(subscription, str)
    return {"clock": clock.id, "customer": customer.id, "subscription": subscription}


def _press(visitor: Visitor, clock_id: str, step: str) -> Any:
    """Press one of a clock's buttons on the dashboard, as a browser submits it."""
    page = visitor.get("/dashboard").text
    panel = page[page.index(f'id="clock-{clock_id}"') :]
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', panel)
    assert token
    return visitor.http.post(
        visitor.url(f"/dashboard/clocks/{clock_id}/advance"),
        data={"form_token": token.group(1), "step": step},
        headers={"Origin": visitor.sandbox.base_url},
        allow_redirects=False,
        timeout=10,
    )


def test_the_dashboard_shows_each_clock_with_its_customer_subscription_and_buttons(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    member = _member_on_a_clock(sandbox, stripe_client, "4242 4242 4242 4242")

    text = text_of(Visitor(sandbox).get("/dashboard").text)

    assert "Test clocks (1)" in text
    assert "ada's clock" in text
    assert "Frozen time: 01 Jan 2026, 00:00:00 UTC" in text
    assert "ada@example.com" in text
    assert "trialing" in text
    assert "15 Jan 2026, 00:00:00 UTC" in text  # the trial's end
    for label in ("Advance to trial end", "Advance to next renewal", "+1 day", "+1 month"):
        assert label in text
    assert member["subscription"][:18] in text


def test_advance_to_trial_end_charges_the_first_invoice_and_sends_the_webhooks(
    sandbox: RunningSandbox, stripe_client: StripeClient, receiver: Receiver
) -> None:
    stripe_client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
    member = _member_on_a_clock(sandbox, stripe_client, "4242 4242 4242 4242")
    visitor = Visitor(sandbox)

    pressed = _press(visitor, member["clock"], "trial_end")

    assert pressed.status_code == 303
    assert pressed.headers["Location"].endswith(f"/dashboard#clock-{member['clock']}")
    clock = stripe_client.v1.test_helpers.test_clocks.retrieve(member["clock"])
    assert clock.frozen_time == START + 14 * DAY
    subscription = stripe_client.v1.subscriptions.retrieve(member["subscription"])
    assert subscription.status == "active"
    invoices = stripe_client.v1.invoices.list(params={"subscription": member["subscription"]})
    first_payment = [i for i in invoices.data if i.billing_reason == "subscription_cycle"]
    assert [(i.status, i.amount_paid) for i in first_payment] == [("paid", 900)]
    receiver.wait_for(lambda events: any(e["type"] == "invoice.paid" for e in events))
    # Nothing trial-shaped is left to reach; a renewal is.
    text = text_of(visitor.get("/dashboard").text)
    assert "active" in text
    page = visitor.get("/dashboard").text
    assert re.search(r'value="trial_end">\s*<button class="secondary" type="submit" disabled', page)
    assert not re.search(
        r'value="renewal">\s*<button class="secondary" type="submit" disabled', page
    )


def test_a_refused_renewal_goes_past_due_and_a_new_card_in_the_portal_pays_it(
    sandbox: RunningSandbox, stripe_client: StripeClient, receiver: Receiver
) -> None:
    """0341 is saved at sign-up but refuses every later charge: the trial's end leaves
    the invoice open and the membership past due; the portal's new 4242 pays it at once."""
    stripe_client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
    member = _member_on_a_clock(sandbox, stripe_client, FAILS_LATER)
    visitor = Visitor(sandbox)

    assert _press(visitor, member["clock"], "trial_end").status_code == 303

    subscription = stripe_client.v1.subscriptions.retrieve(member["subscription"])
    assert subscription.status == "past_due"
    invoice = stripe_client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert invoice.status == "open"
    receiver.wait_for(lambda events: any(e["type"] == "invoice.payment_failed" for e in events))

    portal_configuration(stripe_client)
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": member["customer"], "return_url": "https://shop.test/account"}
    )
    saved = visitor.submit(f"/portal/{portal.id}/card", _card("4242 4242 4242 4242"))
    assert saved.status_code == 303

    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"
    assert stripe_client.v1.subscriptions.retrieve(member["subscription"]).status == "active"
    receiver.wait_for(lambda events: any(e["type"] == "invoice.paid" for e in events))


def test_a_day_and_a_month_move_the_frozen_time_by_that_much(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    member = _member_on_a_clock(sandbox, stripe_client, "4242 4242 4242 4242")
    visitor = Visitor(sandbox)

    assert _press(visitor, member["clock"], "day").status_code == 303
    clock = stripe_client.v1.test_helpers.test_clocks.retrieve(member["clock"])
    assert clock.frozen_time == START + DAY
    assert _press(visitor, member["clock"], "month").status_code == 303
    clock = stripe_client.v1.test_helpers.test_clocks.retrieve(member["clock"])
    assert clock.frozen_time == START + DAY + 31 * DAY  # 2 January to 2 February
    # The trial ended on the way (15 January): the membership is active and billed.
    assert stripe_client.v1.subscriptions.retrieve(member["subscription"]).status == "active"


def test_next_renewal_bills_the_next_period(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    member = _member_on_a_clock(sandbox, stripe_client, "4242 4242 4242 4242", trial_days=0)
    visitor = Visitor(sandbox)

    assert _press(visitor, member["clock"], "renewal").status_code == 303

    clock = stripe_client.v1.test_helpers.test_clocks.retrieve(member["clock"])
    assert clock.frozen_time == START + 31 * DAY
    invoices = stripe_client.v1.invoices.list(params={"subscription": member["subscription"]})
    assert sorted(i.billing_reason or "" for i in invoices.data) == [
        "subscription_create",
        "subscription_cycle",
    ]
    assert all(i.status == "paid" for i in invoices.data)


def test_a_step_with_nothing_to_reach_changes_nothing(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})

    pressed = _press(Visitor(sandbox), clock.id, "trial_end")

    assert pressed.status_code == 409
    assert "Nothing on this clock falls due that way" in text_of(pressed.text)
    assert stripe_client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == START


def test_a_forged_or_cross_site_press_is_refused(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """The buttons are POST forms with the sandbox's own token, like its hosted pages."""
    clock = stripe_client.v1.test_helpers.test_clocks.create(params={"frozen_time": START})
    visitor = Visitor(sandbox)
    url = visitor.url(f"/dashboard/clocks/{clock.id}/advance")

    forged = visitor.http.post(url, data={"step": "day", "form_token": "0" * 64}, timeout=10)
    page = visitor.get("/dashboard").text
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', page)
    assert token
    cross_site = visitor.http.post(
        url,
        data={"step": "day", "form_token": token.group(1)},
        headers={"Origin": "https://evil.example"},
        timeout=10,
    )
    through_get = visitor.get(f"/dashboard/clocks/{clock.id}/advance")

    assert forged.status_code == 403
    assert cross_site.status_code == 403
    assert through_get.status_code == 405
    assert stripe_client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == START
