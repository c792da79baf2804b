"""The shop owner's membership and invoice commands against the sandbox: the real SDK,
Stripe's answers and its webhooks. Cancel at the period end, cancel now, change plan
(prorated), and pay a failed renewal once the member has fixed their card.

Run on SQLite, and on PostgreSQL when TEST_DATABASE_URL names one (as CI does).
"""

from __future__ import annotations

import pytest
from click.testing import Result
from stripe_sandbox.flows import engine
from stripe_sandbox.flows.engine import CardDetails
from stripe_sandbox.flows.portal import portal_update_card

from shop.extensions import db
from shop.models import Invoice, Subscription
from tests.integration.live_shop import LiveShop, paying_card

pytestmark = pytest.mark.sandbox

FAILS_LATER = "4000000000000341"


def run(live_shop: LiveShop, *args: str) -> Result:
    return live_shop.app.test_cli_runner().invoke(args=list(args))


def membership(live_shop: LiveShop) -> Subscription:
    def read() -> Subscription:
        row = db.session.execute(db.select(Subscription)).scalar_one()
        db.session.expunge(row)
        return row

    return live_shop.read(read)


def become_member(
    live_shop: LiveShop, plan: str = "patron", card: str = "4242424242424242", *, clock: bool
) -> Subscription:
    """reader@example.com pays for `plan`, monthly, on the sandbox's hosted page."""
    client = live_shop.signed_in_shopper()
    if clock:
        live_shop.customer_on_a_clock()
    start = client.post(f"/checkout/memberships/{plan}", data={"interval": "month"})
    assert start.status_code == 303, start.text
    session_id = start.location.rstrip("/").rsplit("/", 1)[-1]
    paid = engine.pay_checkout_session(live_shop.sandbox.state, session_id, paying_card(card))
    assert paid.status == "succeeded"
    assert live_shop.wait_for(
        lambda: db.session.execute(
            db.select(Subscription).where(Subscription.status.in_(["active", "trialing"]))
        ).first()
    )
    return membership(live_shop)


def test_cancel_at_period_end_then_now_against_the_sandbox(live_shop: LiveShop) -> None:
    member = become_member(live_shop, clock=False)
    stripe_subs = live_shop.stripe_client.v1.subscriptions

    ending = run(live_shop, "subscriptions", "cancel", "reader@example.com")

    assert ending.exit_code == 0, ending.output
    assert "Patron membership will end on" in ending.output
    assert stripe_subs.retrieve(member.stripe_subscription_id).cancel_at_period_end is True
    recorded = membership(live_shop)  # recorded by the command, webhook or not
    assert (recorded.status, recorded.cancel_at_period_end) == ("active", True)
    again = run(live_shop, "subscriptions", "cancel", "reader@example.com")
    assert again.exit_code == 0 and "already cancelling" in again.output

    ended = run(live_shop, "subscriptions", "cancel", "reader@example.com", "--now")

    assert ended.exit_code == 0, ended.output
    assert "it ended now" in ended.output
    assert stripe_subs.retrieve(member.stripe_subscription_id).status == "canceled"
    assert membership(live_shop).status == "canceled"
    last = run(live_shop, "subscriptions", "cancel", "reader@example.com", "--now")
    assert last.exit_code == 0 and "already cancelled" in last.output


def test_change_plan_against_the_sandbox_switches_the_price_with_prorations(
    live_shop: LiveShop,
) -> None:
    member = become_member(live_shop, clock=False)

    done = run(live_shop, "subscriptions", "change-plan", "reader@example.com", "reader")

    assert done.exit_code == 0, done.output
    assert "now on Reader, billed every month" in done.output
    sub = live_shop.stripe_client.v1.subscriptions.retrieve(member.stripe_subscription_id)
    assert sub["items"].data[0].price.lookup_key == "plan:reader:month"
    items = live_shop.stripe_client.v1.invoice_items.list(
        params={"customer": member.stripe_customer_id}
    ).data
    assert sorted(i.amount > 0 for i in items if i.proration) == [False, True]
    assert (membership(live_shop).plan_key, membership(live_shop).interval) == ("reader", "month")
    same = run(live_shop, "subscriptions", "change-plan", "reader@example.com", "reader")
    assert same.exit_code == 0 and "already on Reader" in same.output


def test_retry_a_failed_renewal_declines_then_pays_once_the_card_is_fixed(
    live_shop: LiveShop,
) -> None:
    """Card 0341 pays the trial sign-up and fails the first real charge; `invoices retry`
    says so (exit 1) until the member saves a new card, then pays."""
    member = become_member(live_shop, "reader", FAILS_LATER, clock=True)
    clock_id = live_shop.read(
        lambda: str(
            live_shop.stripe_client.v1.customers.retrieve(member.stripe_customer_id).test_clock
        )
    )
    live_shop.advance_clock(clock_id, days=15)  # the trial ends; the card is refused

    def open_invoice() -> str | None:
        row = db.session.execute(
            db.select(Invoice).filter_by(status="open", billing_reason="subscription_cycle")
        ).scalar_one_or_none()
        return row.stripe_invoice_id if row is not None else None

    invoice_id = live_shop.wait_for(open_invoice)
    assert invoice_id, "the failed renewal was not recorded"

    declined = run(live_shop, "invoices", "retry", invoice_id)

    assert declined.exit_code == 1
    assert f"The card was declined for invoice {invoice_id} (£9.00)" in declined.output
    assert "Your card was declined." in declined.output
    assert membership(live_shop).status == "past_due"

    fixed = portal_update_card(
        live_shop.sandbox.state,
        member.stripe_customer_id,
        CardDetails("4242424242424242", 12, 2033, "123"),
        pay_open_invoices=False,  # saved, but left to the admin to charge now
    )
    assert fixed.status == "succeeded"
    paid = run(live_shop, "invoices", "retry", invoice_id)

    assert paid.exit_code == 0, paid.output
    assert paid.output == f"Invoice {invoice_id} is paid: £9.00.\n"
    assert live_shop.stripe_client.v1.invoices.retrieve(invoice_id).status == "paid"
    assert membership(live_shop).status == "active"
    again = run(live_shop, "invoices", "retry", invoice_id)
    assert again.exit_code == 0 and "already paid" in again.output
